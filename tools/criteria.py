"""The engine's done-criteria on the embedded data set: forget durably, keep the rest, spread the predictions.

    python tools/criteria.py --run [--arch smallcnn] [--seeds 0 1 2] [--forget triangle "square,star,heart"]
                                   [--retrain] [--preset shapes10]
    python tools/criteria.py RESULT.json [RESULT.json ...]

`--run` unlearns every forget set (default: each class alone, then two sets of three) with each
seed in one warm process, using the shipped checkpoint and the auto recipe, exactly as
`python -m unsir_core unlearn --forget F --seed S --out R.json` would, and writes those JSON files
under --out-dir. Either way it prints, per forget set, the mean over seeds of A_Df, A_Dr as % of
the original's, after impair and after repair (impair should do the forgetting: A_Df <= 10% after it, issue 21),
the largest share of forget-class predictions that one retain class receives,
and the seconds of unlearning (noise + impair + repair) and of the whole run with the three
evaluations (original, impaired, unlearned). With `--retrain` (or results of `unlearn --retrain`) it
adds the retrained gold standard's largest share: the reference for the unlearned model's.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THREE_CLASS_SETS = ("square,star,heart", "circle,triangle,arrow")


def max_share(counts: list[int], excluded: set[int]) -> float:
    """The largest share, in %, of forget-class predictions that one class outside `excluded` receives."""
    return 100 * max(v for c, v in enumerate(counts) if c not in excluded) / max(1, sum(counts))


def summarise(runs: list[dict]) -> str:
    groups = defaultdict(list)
    retrained = defaultdict(list)
    for run in runs:
        m = run["metrics"]
        gone = {list(run["prediction_distribution"]).index(name) for name in run["forgotten_total"]}
        key = ",".join(run["forget"])
        groups[key].append(
            (
                m["impair"]["forget_acc"],
                100 * m["impair"]["retain_acc"] / m["original"]["retain_acc"],
                m["repair"]["forget_acc"],
                100 * m["repair"]["retain_acc"] / m["original"]["retain_acc"],
                max_share(m["repair"]["prediction_distribution"], gone),
                run["timings_s"]["unlearn"],
                run["timings_s"]["total"],
            )
        )
        if "retrain" in m:
            retrained[key].append(max_share(m["retrain"]["prediction_distribution"], gone))
    lines = [
        "| forget set | seeds | after impair: A_Df % | A_Dr % of original | after repair: A_Df % | A_Dr % of "
        "original | max share of one retain class % | unlearn s | with evaluation s |"
        + (" retrained: max share % |" if retrained else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if retrained else ""),
    ]
    for forget, rows in groups.items():
        cols = [mean(c) for c in zip(*rows)]
        line = (
            f"| {forget} | {len(rows)} | {cols[0]:.2f} | {cols[1]:.1f} | {cols[2]:.2f} | {cols[3]:.1f} | "
            f"{cols[4]:.1f} | {cols[5]:.2f} | {cols[6]:.2f} |"
        )
        if retrained:
            line += f" {mean(retrained[forget]):.1f} |" if retrained[forget] else " |"
        lines.append(line)
    return "\n".join(lines)


def run_all(
    arch: str | None,
    seeds: list[int],
    forget_sets: list[str],
    out_dir: Path,
    retrain: bool = False,
    preset: str | None = None,
) -> list[dict]:
    from unsir_core.algorithm.pipeline import run_unsir
    from unsir_core.algorithm.recipe import choose_recipe
    from unsir_core.checkpoints.store import default_checkpoint, load_model
    from unsir_core.data import load_dataset
    from unsir_core.training.train import gold_standard_config

    data = load_dataset("shapes10")
    model = load_model(default_checkpoint("shapes10", arch))
    out_dir.mkdir(parents=True, exist_ok=True)
    run_unsir(model, data, [0], choose_recipe(data, model.info, [0]).config, "cpu")  # warm-up: oneDNN's kernels
    runs = []
    for forget in forget_sets:
        for seed in seeds:
            gold = gold_standard_config(model.info, seed) if retrain else None  # as the CLI's --retrain
            recipe = choose_recipe(data, model.info, forget.split(","), preset, seed)  # as `unlearn [--preset]`
            run = run_unsir(model, data, forget.split(","), recipe.config, "cpu", retrain=gold, recipe=recipe)
            result = {"preset": recipe.name, **run.to_json()}
            (out_dir / f"{model.info.arch}-{forget.replace(',', '+')}-seed{seed}.json").write_text(json.dumps(result))
            print(
                f"{forget} seed {seed}: A_Df {result['metrics']['repair']['forget_acc']:.2f}, "
                f"A_Dr {result['metrics']['repair']['retain_acc']:.2f}, {run.timings_s}",
                file=sys.stderr,
            )
            runs.append(result)
    return runs


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="*", help="JSON files written by `python -m unsir_core unlearn --out`")
    p.add_argument("--run", action="store_true", help="run the forget sets x seeds now (CPU, one process)")
    p.add_argument("--arch", default=None, help="shipped architecture (default: the default model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--forget",
        nargs="+",
        default=None,
        help="forget sets, comma-separated names (default: every class alone, then "
        + " and ".join(THREE_CLASS_SETS)
        + ")",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="also train the gold standard without the forget set (as `unlearn --retrain`; minutes each)",
    )
    p.add_argument("--out-dir", type=Path, default=Path("runs/criteria"))
    p.add_argument("--preset", default=None, help="a named preset (default: the auto recipe, as `unlearn`)")
    args = p.parse_args(argv)
    if args.run:
        from unsir_core.data.shapes import CLASS_NAMES

        runs = run_all(
            args.arch,
            args.seeds,
            args.forget or [*CLASS_NAMES, *THREE_CLASS_SETS],
            args.out_dir,
            args.retrain,
            args.preset,
        )
    elif args.results:
        runs = [json.loads(Path(path).read_text()) for path in args.results]
    else:
        p.error("give RESULT.json files, or --run")
    print(summarise(runs))


if __name__ == "__main__":
    main(sys.argv[1:])
