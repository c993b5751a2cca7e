"""The robustness matrix's summary: what passes, and the ablation rows shown beside UNSIR but never judged."""

from __future__ import annotations

from dataclasses import replace

from unsir_core.experiments.robustness import Cell, report, table_rows, to_markdown

PASSING = Cell(
    data="digits-folder",
    arch="resnet18",
    forget=("2",),
    seed=0,
    held_out=True,
    ablation="none",
    forget_acc=0.0,
    forget_acc_impair=1.0,
    retain_share_impair=60.0,
    forget_share_impair=1.0,
    retain_share=98.0,
    original_retain_acc=99.0,
    retain_per_class=100,
    repair_epochs=1,
    check_gap=None,
    degraded=False,
    unlearn_s=2.0,
)


def test_a_row_passes_only_when_impair_does_the_forgetting_and_repair_keeps_the_rest():
    seeds = [replace(PASSING, seed=s) for s in range(3)]
    assert table_rows(seeds)[0]["passed"] is True
    impair_left_it = [replace(c, forget_acc_impair=30.0, forget_share_impair=30.0) for c in seeds]
    assert table_rows(impair_left_it)[0]["passed"] is False
    came_back = [replace(c, forget_acc=3.0) for c in seeds]
    assert table_rows(came_back)[0]["passed"] is False
    one_bad_seed = [*seeds[:2], replace(seeds[2], retain_share=89.0)]
    assert table_rows(one_bad_seed)[0]["passed"] is False


def test_ablation_rows_stand_beside_the_recipe_and_are_not_judged():
    cells = [replace(PASSING, seed=s) for s in range(3)]
    no_noise = [replace(c, ablation="no-noise", forget_acc_impair=70.0, forget_share_impair=70.0) for c in cells]
    rows = table_rows([*no_noise, *cells])
    assert [(r["ablation"], r["passed"]) for r in rows] == [("none", True), ("no-noise", None)]
    assert rows[1]["forget_acc_impair"] == 70.0
    assert report([*no_noise, *cells], 1.0)["passed"] is True
    lines = to_markdown(rows).splitlines()
    assert "| UNSIR as it is |" in lines[2] and lines[2].endswith("| yes |")
    assert "| without noise |" in lines[3] and lines[3].endswith("| not judged |")
