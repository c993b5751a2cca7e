"""What-if sweeps (unsir_core.experiments.sweep): the grid, the cell cache, cancelling, failed cells, the output
formats, and the same numbers from a local process pool and from Ray as in-process. Tiny grids on a reduced
Shapes-10."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from unsir_core.common.config import scalar_settings
from unsir_core.common.errors import ConfigError
from unsir_core.experiments.studies import STUDIES
from unsir_core.experiments.sweep import mean_by, parquet_available, run_sweep
from unsir_core.experiments.sweep_backends import InProcess, ProcessPool, RayBackend, make_backend
from unsir_core.experiments.sweep_cells import CellCache, cell_key, model_fingerprint
from unsir_core.experiments.sweep_grid import Axis, SweepMetrics, SweepSpec, expand, nested_forget_sets

ACCURACIES = ["forget_acc_impair", "retain_acc_impair", "forget_acc_repair", "retain_acc_repair"]


def tiny_spec(base, lrs=(0.001, 0.1), seeds=(0,), **kw) -> SweepSpec:
    return SweepSpec((Axis.of("impair.lr", lrs, base),), (("triangle",),), seeds, base, **kw)


def test_the_grid_is_every_combination_in_order(tiny_shapes, fast_config):
    base = fast_config
    spec = SweepSpec(
        (Axis.parse("impair.lr=0.001, 0.01", base), Axis.parse("repair.epochs=1,2,2", base)),
        (("triangle",), ("circle", "star")),
        (0, 3),
        base,
    )
    cells = expand(spec, tiny_shapes)
    assert len(cells) == 2 * 2 * 2 * 2  # the repeated value 2 counts once
    assert [c.index for c in cells] == list(range(16))
    first, last = cells[0], cells[-1]
    assert (first.forget, first.seed, first.values) == (("triangle",), 0, (("impair.lr", 0.001), ("repair.epochs", 1)))
    assert (last.forget, last.seed, last.values) == (("circle", "star"), 3, (("impair.lr", 0.01), ("repair.epochs", 2)))
    assert last.config.impair.lr == 0.01 and last.config.repair.epochs == 2 and last.config.seed == 3
    assert last.config.repair.lr == base.repair.lr and last.config.noise == base.noise  # the rest is the base's
    assert isinstance(cells[0].config.repair.epochs, int)  # values take the setting's type


def test_bad_grids_are_refused_with_what_to_do(tiny_shapes, fast_config):
    with pytest.raises(ConfigError, match="Sweepable settings: .*impair.lr"):
        Axis.parse("impair.lrr=0.1", fast_config)
    with pytest.raises(ConfigError, match="whole number"):
        Axis.parse("repair.epochs=1.5", fast_config)
    with pytest.raises(ConfigError, match="NAME=V1,V2"):
        Axis.parse("impair.lr", fast_config)
    with pytest.raises(ConfigError, match="Unknown class"):
        expand(SweepSpec((), (("dragon",),)), tiny_shapes)
    with pytest.raises(ConfigError, match="anneal"):  # the engine's own checks run at expansion, before any work
        expand(SweepSpec((Axis.of("repair.anneal", [2.0], fast_config),), (("star",),), (0,), fast_config), tiny_shapes)
    assert (
        "impair.lr" in scalar_settings()
        and "seed" not in scalar_settings()
        and "impair.frozen" not in scalar_settings()
    )


def test_nested_forget_sets_grow_from_the_chosen_classes(tiny_shapes):
    sets = nested_forget_sets(tiny_shapes, ["star"], [1, 2, 4])
    assert sets == (("star",), ("star", "circle"), ("star", "circle", "square", "triangle"))
    with pytest.raises(ConfigError, match="1 to 9"):
        nested_forget_sets(tiny_shapes, ["star"], [10])


def test_studies_are_valid_grids(tiny_shapes):
    from unsir_core.common.config import UnsirConfig

    for study in STUDIES.values():
        assert study.finding and study.source
        if study.setting is not None:
            Axis.of(study.setting, study.values, UnsirConfig())
            assert all(p.value in study.values for p in study.reference)  # a published point lines up with the grid
        else:
            assert len(nested_forget_sets(tiny_shapes, ["star"], study.values)) == len(study.values)


def test_a_repeated_sweep_does_no_work_and_an_extended_one_only_the_new_cells(
    tiny_shapes, shipped_model, fast_config, tmp_path
):
    cache = CellCache(tmp_path / "cells")
    events = []
    first = run_sweep(
        tiny_spec(fast_config), shipped_model, tiny_shapes, InProcess(), "cpu", cache=cache, progress=events.append
    )
    assert first.ran == 2 and not first.cached and not first.cancelled
    assert [e.step for e in events if e.phase == "sweep"] == [1, 2]
    assert {"noise", "impair", "repair"} <= {e.phase for e in events}  # in-process passes each cell's steps on
    frame = first.frame()
    assert list(frame["impair.lr"]) == [0.001, 0.1] and (frame["status"] == "ok").all()
    low, high = frame.iloc[0], frame.iloc[1]
    assert low["forget_acc_original"] == high["forget_acc_original"] > 50
    assert high["retain_acc_impair"] < low["retain_acc_impair"]  # a 100x higher impair rate damages the network

    events.clear()
    again = run_sweep(
        tiny_spec(fast_config), shipped_model, tiny_shapes, InProcess(), "cpu", cache=cache, progress=events.append
    )
    assert again.ran == 0 and len(again.cached) == 2
    assert [e.phase for e in events] == ["sweep", "sweep"]  # nothing ran: no noise, impair or repair step
    pd.testing.assert_frame_equal(again.frame().drop(columns="cached"), frame.drop(columns="cached"))

    extended = run_sweep(
        tiny_spec(fast_config, lrs=(0.001, 0.01, 0.1)), shipped_model, tiny_shapes, InProcess(), "cpu", cache=cache
    )
    assert extended.ran == 1 and extended.frame()["cached"].tolist() == [True, False, True]


def test_the_cache_key_changes_with_whatever_changes_the_numbers(tiny_shapes, shipped_model, fast_config):
    cell = expand(tiny_spec(fast_config), tiny_shapes)[0]
    fp = model_fingerprint(shipped_model)
    key = cell_key("data", fp, cell, [2], SweepMetrics(), "cpu")
    assert key == cell_key("data", model_fingerprint(shipped_model.copy()), cell, [2], SweepMetrics(), "cpu")
    other = expand(tiny_spec(fast_config, seeds=(1,)), tiny_shapes)[0]
    changed = shipped_model.copy()
    next(changed.net.parameters()).data.mul_(1.001)
    assert (
        len(
            {
                key,
                cell_key("data", fp, other, [2], SweepMetrics(), "cpu"),
                cell_key("other data", fp, cell, [2], SweepMetrics(), "cpu"),
                cell_key("data", model_fingerprint(changed), cell, [2], SweepMetrics(), "cpu"),
                cell_key("data", fp, cell, [2], SweepMetrics(relearn=True), "cpu"),
                cell_key("data", fp, cell, [2], SweepMetrics(), "cuda"),
            }
        )
        == 6
    )


def test_cancel_keeps_the_finished_cells_and_the_next_run_does_the_rest(
    tiny_shapes, shipped_model, fast_config, tmp_path
):
    import threading

    cache, stop = CellCache(tmp_path / "cells"), threading.Event()

    def progress(ev):
        if ev.phase == "sweep":
            stop.set()  # cancel as soon as the first cell is done: the second stops at its first step

    spec = tiny_spec(fast_config, lrs=(0.001, 0.01, 0.1))
    result = run_sweep(spec, shipped_model, tiny_shapes, InProcess(), "cpu", progress, stop, cache)
    assert result.cancelled and list(result.records) == [0] and len(result.frame()) == 1
    rest = run_sweep(spec, shipped_model, tiny_shapes, InProcess(), "cpu", cache=cache)
    assert not rest.cancelled and rest.ran == 2 and rest.cached == {0}


def test_a_failed_cell_is_reported_and_the_others_still_run(tiny_shapes, shipped_model, fast_config, tmp_path):
    spec = SweepSpec((Axis.of("retain_per_class", [20, 100_000], fast_config),), (("triangle",),), (0,), fast_config)
    frame = run_sweep(spec, shipped_model, tiny_shapes, InProcess(), "cpu", cache=CellCache(tmp_path)).frame()
    assert frame["status"].tolist()[0] == "ok"
    assert frame["status"].tolist()[1].startswith("failed: Asked for 100000 retain samples")
    assert math.isnan(frame["forget_acc_repair"].iloc[1])


def test_audits_and_every_output_format(tiny_shapes, shipped_model, fast_config, tmp_path):
    spec = tiny_spec(fast_config, lrs=(0.01,), metrics=SweepMetrics(relearn=True, privacy=True, relearn_max_epochs=2))
    result = run_sweep(spec, shipped_model, tiny_shapes, InProcess(), "cpu", cache=CellCache(tmp_path / "cells"))
    frame = result.frame()
    assert 0 <= frame["mia_entropy"].iloc[0] <= 100 and 0 <= frame["mia_confidence"].iloc[0] <= 100
    assert frame["relearn_capped"].iloc[0] in (True, False)
    audits = result.records[0]["audits"]
    assert set(audits) == {"relearn", "mia"} and audits["mia"]["repair"]["variant"] == "entropy"
    table = mean_by(frame, ["impair.lr"])
    assert table["seeds"].tolist() == [1] and table["forget_acc_repair"].iloc[0] == round(
        frame["forget_acc_repair"].iloc[0], 2
    )

    pd.testing.assert_frame_equal(pd.read_csv(result.write(tmp_path / "s.csv")), frame, check_dtype=False)
    assert json.loads(result.write(tmp_path / "s.json").read_text())[0]["cell"] == 0
    if parquet_available():
        assert pd.read_parquet(result.write(tmp_path / "s.parquet"))["key"].tolist() == frame["key"].tolist()
    with pytest.raises(ConfigError, match=r"\.csv, \.parquet, \.json"):
        result.write(tmp_path / "s.xlsx")
    assert not (tmp_path / "s.xlsx").exists()


def test_backends_are_chosen_from_the_options():
    assert isinstance(make_backend(), InProcess)
    assert isinstance(make_backend(workers=2), ProcessPool)
    assert make_backend(ray_address="local").address is None
    assert make_backend(ray_address="ray://head:10001").address == "ray://head:10001"
    with pytest.raises(ConfigError, match="one backend"):
        make_backend(workers=2, ray_address="local")
    with pytest.raises(ConfigError, match="at least 1"):
        make_backend(workers=0)


def _same_numbers(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Cell for cell the same accuracies (within 0.5 points; with equal thread counts they are identical)."""
    assert a["cell"].tolist() == b["cell"].tolist()
    assert ((a[ACCURACIES] - b[ACCURACIES]).abs() <= 0.5).all().all(), (a[ACCURACIES], b[ACCURACIES])


@pytest.mark.slow
def test_a_process_pool_gives_the_same_numbers(tiny_shapes, shipped_model, fast_config, tmp_path):
    spec = tiny_spec(fast_config)
    here = run_sweep(spec, shipped_model, tiny_shapes, InProcess(threads=1), "cpu", cache=CellCache(tmp_path / "a"))
    pool = run_sweep(
        spec, shipped_model, tiny_shapes, ProcessPool(2, threads=1), "cpu", cache=CellCache(tmp_path / "b")
    )
    assert pool.ran == 2 and pool.backend.startswith("process pool")
    _same_numbers(here.frame(), pool.frame())


@pytest.mark.ray
@pytest.mark.slow
def test_ray_gives_the_same_numbers(tiny_shapes, shipped_model, fast_config, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -r requirements-ray.txt")
    spec = tiny_spec(fast_config)
    here = run_sweep(spec, shipped_model, tiny_shapes, InProcess(threads=1), "cpu", cache=CellCache(tmp_path / "a"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep(
            spec, shipped_model, tiny_shapes, RayBackend(threads=1), "cpu", cache=CellCache(tmp_path / "b")
        )
    finally:
        ray.shutdown()
    assert remote.ran == 2 and remote.backend.startswith("ray (local, cpu")
    _same_numbers(here.frame(), remote.frame())


@pytest.mark.slow
def test_the_original_is_evaluated_once_per_forget_set(tiny_shapes, shipped_model, fast_config, tmp_path, monkeypatch):
    """Every cell of a forget set reports the same Original figures as a lone run, from one evaluation."""
    from unsir_core.algorithm import pipeline
    from unsir_core.algorithm.pipeline import run_unsir

    calls = []
    real = pipeline.evaluate_original
    monkeypatch.setattr(pipeline, "evaluate_original", lambda *a: calls.append(a[2]) or real(*a))
    spec = SweepSpec((Axis.of("impair.lr", (0.001, 0.1), fast_config),), (("triangle",), ("star",)), (0,), fast_config)
    result = run_sweep(spec, shipped_model, tiny_shapes, InProcess(), "cpu", cache=CellCache(tmp_path / "cells"))
    assert result.ran == 4 and sorted(map(tuple, calls)) == [(2,), (4,)]
    alone = run_unsir(shipped_model, tiny_shapes, ["star"], fast_config, "cpu").evaluations["original"].to_dict()
    for index in (2, 3):
        assert result.records[index]["report"]["metrics"]["original"] == alone
