"""`unlearn` (one UNSIR request, chained ones included) and `report` (the HTML report of a run JSON)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unsir_core.cli.common import BarProgress, DegradedResult, classes, given_settings, load_data_and_model
from unsir_core.common.errors import ConfigError


def cmd_unlearn(args) -> dict[str, Any]:
    """UNSIR on --checkpoint; an already unlearned checkpoint chains (its lineage finds the true original)."""
    from unsir_core.algorithm.request import UnlearningRequest, run_request
    from unsir_core.checkpoints.lineage import finalize
    from unsir_core.checkpoints.store import save_model
    from unsir_core.common import strict_json
    from unsir_core.common.paths import ASSETS_DIR, model_store
    from unsir_core.training.train import gold_standard_config

    data, model = load_data_and_model(args)
    given = given_settings(args)
    retrain = gold_standard_config(model.info, given.get("seed", 0)) if args.retrain else None
    bar = BarProgress(not args.quiet)
    request = UnlearningRequest(
        model,
        data,
        tuple(classes(args.forget)),
        args.preset,
        given,
        checkpoint=args.checkpoint_path,
        retrain=retrain,
        views=True,  # the JSON is all `report` reads: it carries the embedding and CKA figures
    )
    run = run_request(request, args.device, progress=bar)
    bar.close()
    report = run.to_json()
    if report["extras"].get("root_found") is False:
        print(
            f"warning: {args.checkpoint_path.name} already forgot some classes and its original was not found in "
            f"{ASSETS_DIR} or {model_store()} (by the digest of its weights): 'original' in the JSON is the starting "
            "model.",
            file=sys.stderr,
        )
    if chance := run.extras.get("chance_warning"):
        print(f"warning: forgetting is meaningless on a model that learned nothing: {chance}", file=sys.stderr)
    reference = run.extras.get("reference")
    if reference:
        how = "reused" if reference["reused"] else "trained and stored as"
        print(f"retrained reference: {how} {reference['path']}", file=sys.stderr)
        if reference["warning"]:
            print(f"warning: {reference['warning']}", file=sys.stderr)
    if run.degraded and not args.allow_degraded:
        print(strict_json.dumps(report))
        raise DegradedResult(
            f"{run.result.repair_outcome.message} Nothing was saved; add --allow-degraded to keep the result anyway."
        )
    if args.save_model:
        save_model(finalize(run.result.model, report), Path(args.save_model))
    return report


def cmd_report(args) -> dict[str, Any]:
    """The HTML report of a run JSON (`unlearn --out`, or one run of the dashboard's JSON download)."""
    import json

    from unsir_core.common.files import atomic_write
    from unsir_core.report.html import render
    from unsir_core.report.run_json import MAX_DEPTH, check_run

    try:
        payload = json.loads(Path(args.run).read_text())
    except FileNotFoundError:
        raise ConfigError(f"No run JSON at {args.run}: make one with `unlearn --out RUN.json`.") from None
    except ValueError as err:
        raise ConfigError(f"{args.run} is not valid JSON ({err}).") from None
    except RecursionError:  # json.loads of lists nested about 1,000 deep or more
        raise ConfigError(
            f"{args.run} is not a run JSON: it nests lists or objects more than {MAX_DEPTH} deep; "
            "give the JSON of `unlearn --out` or the dashboard's."
        ) from None
    runs = payload if isinstance(payload, list) else [payload]
    if not runs or not all(isinstance(r, dict) and "metrics" in r for r in runs):
        raise ConfigError(f"{args.run} holds no UNSIR run: expected the JSON of `unlearn --out` or the dashboard's.")
    index = len(runs) if args.run_index is None else args.run_index
    if not 1 <= index <= len(runs):
        raise ConfigError(f"--run-index {index} is out of range: {args.run} holds {len(runs)} run(s).")
    try:
        check_run(runs[index - 1])
    except ConfigError as err:
        raise ConfigError(
            f"{args.run} is not a run JSON: {err}; give the JSON of `unlearn --out` or the dashboard's."
        ) from None
    html = render(runs[index - 1], args.base_url)
    out = Path(args.out)  # checked (or defaulted beside the run JSON) by preflight
    atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    print(f"wrote {out} ({len(html.encode()) / 1024:.0f} KB)", file=sys.stderr)
    return {"report": str(out), "bytes": len(html.encode())}
