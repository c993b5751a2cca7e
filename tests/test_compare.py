"""The comparison runner, its table and exports, bad input (unknown method, diverging settings, cancel),
the `compare` CLI end to end, and the Compare page through AppTest."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from test_methods import FORGET, TINY

from unsir_core.cli.main import main
from unsir_core.common.errors import ConfigError
from unsir_core.experiments.compare import compare
from unsir_core.experiments.compare_table import COLUMNS, Comparison
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.privacy import MIA_VARIANTS

FAST_METRICS = MetricSettings(relearn_max_epochs=3, relearn_samples=100, relearn_probe=20, mia_samples=100)
ROOT = Path(__file__).resolve().parent.parent
PAGE = "app_pages/compare.py"


@pytest.fixture(scope="module")
def full(shipped_model, tiny_shapes) -> Comparison:
    """Every method on the tiny problem, with small settings."""
    return compare(shipped_model, tiny_shapes, FORGET, list(TINY), TINY, device="cpu", metrics=FAST_METRICS)


@pytest.mark.slow
def test_every_method_gets_a_row_with_every_metric(full, tiny_shapes):
    n_forget = int((tiny_shapes.test_y == FORGET[0]).sum())
    assert [r.method for r in full.rows] == ["original", *TINY]
    assert all(r.ok for r in full.rows), [r.status for r in full.rows]
    assert not full.cancelled and full.total_s > 0
    assert full.reference.startswith("retrained from scratch")
    for r in full.rows:
        # Retraining, fine-tuning and UNSIR (with its ablations and its repair alone) never read a forget image.
        never = ("original", "retrain", "finetune", "finetune_repair", "unsir")
        assert r.reads_forget is not (r.method in never or r.method.startswith("unsir_"))
        for key in ("forget_acc", "retain_acc", "test_acc"):
            assert 0 <= getattr(r, key) <= 100
        assert r.wall_s is not None and r.wall_s >= 0
        assert r.relearn_epochs is not None or r.relearn_capped
        assert len(r.relearn_history) >= 1
        assert 0 <= r.mia_entropy <= 100 and 0 <= r.mia_confidence <= 100
        assert set(r.details["mia"]) == set(MIA_VARIANTS)
        assert 0 <= r.act_dist <= math.sqrt(2) and 0 <= r.js_div <= math.log(2) + 1e-9
        assert 1 - math.log(2) - 1e-9 <= r.zrf <= 1
        assert r.weight_dist_original >= 0 and r.weight_dist_retrain >= 0
        assert len(r.layers_original) == len(r.layers_retrain) == 11  # 5 x (conv, batchnorm) + fc
        assert sum(r.prediction_distribution) == n_forget and len(r.per_class_acc) == 10
        assert "metric_errors" not in r.details
    original, retrain = full.row("original"), full.row("retrain")
    assert original.weight_dist_original == 0 and original.relearn_epochs == 0
    assert retrain.act_dist == 0 and retrain.js_div == 0 and retrain.weight_dist_retrain == 0
    assert retrain.forget_acc == 0
    assert set(full.models) == {"original", *TINY}
    assert all(not m.net.training for m in full.models.values())


@pytest.mark.slow
def test_exports_hold_the_same_table(full, tmp_path):
    payload = full.to_json()
    text = json.dumps(payload)  # JSON-safe: no NaN, no tensors
    assert "NaN" not in text
    assert payload["forget"] == ["star"] and len(payload["rows"]) == 1 + len(TINY)
    assert payload["mia_variants"] == MIA_VARIANTS
    assert {c["key"] for c in payload["columns"]} == {c.key for c in COLUMNS}
    assert payload["rows"][3]["layers_original"][0]["name"]

    frame = full.to_frame()
    assert list(frame["method"]) == ["original", *TINY]
    assert frame.loc[frame.method == "unsir", "forget_acc"].item() == full.row("unsir").forget_acc
    assert "A_Df (%)" in full.to_frame(headers=True).columns

    rows = list(csv.DictReader(io.StringIO(full.to_csv())))
    assert [r["method"] for r in rows] == ["original", *TINY]
    assert float(rows[2]["retain_acc"]) == full.row("finetune").retain_acc

    md = full.to_markdown()
    assert md.splitlines()[0].startswith("| Method | Status | Reads D_f | A_Df (%)")
    assert "| UNSIR | ok | no |" in md and "| NegGrad | ok | yes |" in md


@pytest.mark.slow
def test_unknown_method_and_out_of_range_settings_fail_their_rows_only(shipped_model, tiny_shapes):
    settings = {
        "finetune": {**TINY["finetune"], "lr": 1e30},
        "neggrad": TINY["neggrad"],
        "retrain": TINY["retrain"],
        "scrub": {"temperature": -1},
    }  # both out of their fields' ranges
    result = compare(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["finetune", "dropout", "neggrad", "scrub"],
        settings,
        device="cpu",
        metrics=MetricSettings(relearn=False, mia_samples=100),
    )
    status = {r.method: r.status for r in result.rows}
    assert status["finetune"].startswith("failed: finetune.lr = 1e+30 is out of range: give a value above 0 up to 1")
    assert status["dropout"] == (
        "failed: Unknown unlearning method 'dropout'. Known methods: retrain, finetune, finetune_repair, "
        "neggrad, neggrad_plus, random_labels, bad_teacher, scrub, salun, unsir, unsir_no_noise, "
        "unsir_random_noise, unsir_no_impair, unsir_no_repair."
    )
    assert status["scrub"].startswith("failed: scrub.temperature = -1 is out of range: give a value above 0")
    assert status["neggrad"] == status["original"] == status["retrain"] == "ok"
    assert result.row("neggrad").forget_acc is not None and result.row("finetune").forget_acc is None
    assert result.row("finetune").settings["lr"] == 1e30
    assert any("'retrain' was not requested" in n for n in result.notes)
    assert "failed: finetune.lr = 1e+30 is out of range" in result.to_markdown()
    json.dumps(result.to_json())


def test_cancel_keeps_finished_rows(shipped_model, tiny_shapes):
    class CancelAfterNeggrad:
        def __init__(self):
            self.seen = []

        def is_set(self):
            return "finetune" in self.seen

    token = CancelAfterNeggrad()
    events = []

    def progress(ev):
        events.append(ev.phase)
        token.seen.append(ev.phase.split("/")[0])

    result = compare(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["neggrad", "finetune", "salun"],
        TINY,
        device="cpu",
        progress=progress,
        cancel=token,
        metrics=MetricSettings(relearn=False, mia_samples=100),
        train_reference=False,
    )
    status = {r.method: r.status for r in result.rows}
    assert status == {"original": "ok", "neggrad": "ok", "finetune": "cancelled", "salun": "skipped: cancelled"}
    assert result.cancelled
    assert result.row("neggrad").act_dist is None  # no reference was trained
    assert any(n.startswith("No retrained reference") for n in result.notes)
    assert "neggrad/ascent" in events and "neggrad/metrics" in events and "compare" in events


@pytest.mark.slow
def test_a_reference_can_be_handed_in_and_must_match(shipped_model, tiny_shapes, full):
    ref = full.models["retrain"]
    result = compare(
        shipped_model,
        tiny_shapes,
        FORGET,
        ["retrain", "neggrad"],
        TINY,
        device="cpu",
        metrics=MetricSettings(relearn=False, mia_samples=100),
        reference=ref,
    )
    assert result.row("retrain").details["reused"] and result.row("retrain").js_div == 0
    assert result.row("retrain").wall_s == ref.info.details["train_s"] > 0
    assert result.row("original").act_dist == pytest.approx(full.row("original").act_dist, abs=1e-6)
    assert result.row("neggrad").act_dist == pytest.approx(full.row("neggrad").act_dist, abs=1e-6)
    with pytest.raises(ConfigError, match="trained without classes"):
        compare(shipped_model, tiny_shapes, [1], ["neggrad"], device="cpu", reference=ref)
    with pytest.raises(ConfigError, match="Choose at least one method"):
        compare(shipped_model, tiny_shapes, FORGET, [], device="cpu")


@pytest.mark.slow
def test_cli_compare_end_to_end(tmp_path, capsys):
    out = tmp_path / "table.csv"
    args = [
        "compare",
        "--dataset",
        "shapes10",
        "--forget",
        "star",
        "--methods",
        "finetune,neggrad",
        "--device",
        "cpu",
        "--set",
        "finetune.epochs=1",
        "--set",
        "finetune.retain_per_class=20",
        "--set",
        "neggrad.forget_samples=64",
        "--no-relearn",
        "--no-reference",
        "--quiet",
        "--out",
        str(out),
        "--format",
        "csv",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert [r["method"] for r in payload["rows"]] == ["original", "finetune", "neggrad"]
    assert payload["rows"][1]["settings"]["epochs"] == 1 and payload["rows"][2]["reads_forget"] is True
    assert "| Fine-tune | ok | no |" in captured.err
    rows = list(csv.DictReader(out.open()))
    assert [r["method"] for r in rows] == ["original", "finetune", "neggrad"]

    md = tmp_path / "table.md"
    assert (
        main(
            [
                "compare",
                "--forget",
                "4",
                "--methods",
                "NegGrad",
                "--set",
                "neggrad.forget_samples=64",
                "--no-relearn",
                "--no-reference",
                "--quiet",
                "--threads",
                "1",
                "--out",
                str(md),
                "--format",
                "markdown",
            ]
        )
        == 0
    )
    assert md.read_text().startswith("| Method | Status |")
    assert json.loads(capsys.readouterr().out)["forget"] == ["star"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "finetune,dropout"], "Unknown unlearning method 'dropout'. Known methods: retrain, finetune"),
        (["--methods", "finetune", "--set", "finetune.rate=1"], "finetune has no setting 'rate'"),
        (["--methods", "finetune", "--set", "neggrad.lr=1"], "not among --methods"),
        (["--methods", "finetune", "--set", "lr=1"], "METHOD.FIELD=VALUE"),
    ],
)
def test_cli_bad_input_exits_2(capsys, extra, message):
    assert main(["compare", "--forget", "star", "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_page_runs_a_small_comparison():
    """Through app.py: two methods, then a diverging one."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params = {"forget": "star"}
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No comparison yet" in i.value for i in at.info)

    at.multiselect(key="cmp:methods").set_value(["finetune", "neggrad"]).run()
    for key, value in (
        ("cmp:finetune:epochs", 1),
        ("cmp:finetune:retain_per_class", 20),
        ("cmp:neggrad:forget_samples", 64),
        ("cmp:mia", 100),
    ):
        at.number_input(key=key).set_value(value).run()
    at.checkbox(key="cmp:relearn").uncheck().run()
    at.checkbox(key="cmp:train-ref").uncheck().run()
    at.button(key="cmp:run").click().run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any(s.value.startswith("Compared 2 methods") for s in at.success)
    table = at.dataframe[-1].value
    assert list(table["Method"]) == ["Original", "Fine-tune", "NegGrad"]
    assert "Status" not in table  # the compact table; every column is behind "All columns"
    at.toggle(key="cmp:all-columns").set_value(True).run()
    assert list(at.dataframe[-1].value["Status"]) == ["ok"] * 3
    shown = " ".join(m.value for m in at.markdown)
    assert all(text[:60] in shown for text in MIA_VARIANTS.values())  # the attack definitions are on the page
    assert len(at.get("plotly_chart")) >= 8 and len(at.get("download_button")) == 4
    assert any("star images" in i.value for i in at.info)  # where the forget class went (embedding_views)
    assert at.selectbox(key="cmp-views-shown").options == ["Fine-tune", "NegGrad"]

    lr, epochs = at.number_input(key="cmp:finetune:lr"), at.number_input(key="cmp:finetune:epochs")
    assert (lr.min, lr.max, epochs.min, epochs.max) == (1e-7, 1.0, 1, 100)  # the fields' ranges, as the engine's
