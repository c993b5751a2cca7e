"""Summarise `python -m unsir_core unlearn --out` JSON files against the engine's done-criteria.

Usage: python tools/criteria.py RESULT.json [RESULT.json ...]
Prints, per forget set, the mean over seeds of A_Df, A_Dr as % of the original's, the largest
share of forget-class predictions that one retain class receives, and the UNSIR time.
"""
import json
import sys
from collections import defaultdict
from statistics import mean


def main(paths: list[str]) -> None:
    groups = defaultdict(list)
    for path in paths:
        run = json.load(open(path))
        m = run["metrics"]
        dist = run["prediction_distribution"]
        share = max(v for k, v in dist.items() if k not in run["forgotten_total"]) / max(1, sum(dist.values()))
        groups[",".join(run["forget"])].append(
            (m["repair"]["forget_acc"], 100 * m["repair"]["retain_acc"] / m["original"]["retain_acc"], 100 * share,
             run["timings_s"]["total"]))
    print("| forget set | seeds | A_Df % | A_Dr % of original | max share of one retain class % | time s |")
    print("|---|---|---|---|---|---|")
    for forget, rows in groups.items():
        cols = [mean(c) for c in zip(*rows)]
        print(f"| {forget} | {len(rows)} | {cols[0]:.2f} | {cols[1]:.1f} | {cols[2]:.1f} | {cols[3]:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
