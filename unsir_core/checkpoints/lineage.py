"""Sequential unlearning: the chain of requests behind a model, kept in its checkpoint and its run JSON.

Each request adds one `entry` (what it forgot, its settings and seed, a summary of its metrics, the
checkpoint it started from) to the lineage of the model it started from. The unlearned model's
`ModelInfo.details["lineage"]` holds the whole list, `details["root_sha256"]` the digest of the true
original's weights and `details["root"]` its file name (for people: no file is opened by name), so a later
request, in the dashboard or with `unlearn --checkpoint`, can find the true original in the model store or
the shipped assets (`request.find_root`), compare with it and draw the whole chain. Torch-free: the report
and the pages read it from JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unsir_core.models.classifier import Classifier, ModelInfo

SUMMARY_KEYS = ("forget_acc", "retain_acc", "overall_acc", "per_class_acc")  # kept per stage in an entry


def entry(report: Mapping[str, Any], parent: str) -> dict[str, Any]:
    """One request of a chain, from its run JSON; `parent` names the checkpoint it started from."""
    return {
        "forget": list(report["forget"]),
        "forgotten_total": list(report["forgotten_total"]),
        "config": report["config"],
        "seed": report["config"]["seed"],
        "preset": report.get("preset", "auto"),  # with the user's changes: what a link needs to re-run it
        "overrides": {k: v for k, v in report.get("overrides", {}).items() if k != "seed"},
        "metrics": {stage: {k: ev[k] for k in SUMMARY_KEYS} for stage, ev in report["metrics"].items()},
        "unlearn_s": report["timings_s"]["unlearn"],
        "parent": parent,
    }


def chain(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every request up to and including this run: the earlier ones it carries, then its own."""
    earlier = report.get("extras", {}).get("lineage", [])
    return [*earlier, entry(report, report.get("extras", {}).get("parent", ""))]


def lineage_of(info: ModelInfo) -> list[dict[str, Any]]:
    """The requests that made a model (empty for an original)."""
    return list(info.details.get("lineage", []))


def finalize(model: Classifier, report: Mapping[str, Any]) -> Classifier:
    """The unlearned model with its lineage (this request appended), its true original (the digest of its
    weights and its file name, from the run's extras) and its test accuracy (on the classes it still knows)."""
    sha256, name = report["extras"]["root_sha256"], report["extras"].get("original_file", "")
    details = {
        **model.info.details,
        "lineage": chain(report),
        **({"root": name} if name else {}),
        **({"root_sha256": sha256} if sha256 else {}),
    }
    info = replace(model.info, details=details, test_acc=report["metrics"]["repair"]["retain_acc"])
    return type(model)(model.net, info)


def timeline(requests: Sequence[Mapping[str, Any]], class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Points of the chain's timeline (paper Fig. 5): the true original, then the model after each request.

    Each point: `label`, cumulative unlearning seconds `time_s`, `retain_acc` (A_Dr over the classes
    retained at that point) and `forget` = {class: test accuracy} for every class forgotten by the end.
    """
    if not requests:
        return []
    names = list(class_names)
    gone = [c for c in requests[-1]["forgotten_total"]]
    first = requests[0]["metrics"]["original"]
    points = [
        {
            "label": "Original",
            "time_s": 0.0,
            "retain_acc": first["retain_acc"],
            "forget": {c: first["per_class_acc"][names.index(c)] for c in gone},
        }
    ]
    elapsed = 0.0
    for i, req in enumerate(requests, start=1):
        elapsed += req["unlearn_s"]
        after = req["metrics"]["repair"]
        points.append(
            {
                "label": f"{i}: forget {', '.join(req['forget'])}",
                "time_s": round(elapsed, 3),
                "retain_acc": after["retain_acc"],
                "forget": {c: after["per_class_acc"][names.index(c)] for c in gone},
            }
        )
    return points
