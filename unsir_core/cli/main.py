"""Command line: `python -m unsir_core train | unlearn | report | evaluate | compare | bench | robustness | sweep`.

Progress bars go to stderr, the JSON result to stdout (and to --out), strict JSON (NaN becomes null).
Every argument that can be checked is checked before any work (`preflight`): output paths (suffix,
writable folder, no existing file without --force), checkpoint paths, device and seed. A user error
prints `error: ...` and exits with status 2; nothing already saved is overwritten or half-written.
"""

from __future__ import annotations

import argparse
import sys

from unsir_core.cli.common import DegradedResult, preflight, seed_type, write_json
from unsir_core.cli.experiments import cmd_bench, cmd_compare, cmd_robustness, cmd_sweep
from unsir_core.cli.models import cmd_evaluate, cmd_train
from unsir_core.cli.unlearn import cmd_report, cmd_unlearn
from unsir_core.common.config import MAX_SEED, TUNING, TrainConfig, UnsirConfig, config_value, flag, setting_info
from unsir_core.common.errors import UnsirError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", default=None, help="data set name, or folder:PATH (default: the checkpoint's, or shapes10)"
    )
    p.add_argument("--data-root", default=None, help="where torchvision data sets live (default: $UNSIR_DATA_ROOT)")
    p.add_argument("--offline", action="store_true", help="never download; fail with instructions if files are missing")
    p.add_argument("--arch", default=None, help="architecture (default: the checkpoint's, or smallcnn)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=seed_type, default=None, help=f"random seed, 0 to {MAX_SEED}")
    p.add_argument("--out", default=None, help="write the result here")
    p.add_argument("--force", action="store_true", help="replace output files that exist (otherwise: refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _train_help(name: str) -> str:
    """A training flag's help: the TrainConfig field's own, with its default."""
    return f"{setting_info(name, TrainConfig)['help']} (default {getattr(TrainConfig(), name):g})"


def _request_options(p: argparse.ArgumentParser) -> None:
    """The model and the classes of an unlearning request (unlearn, compare, sweep)."""
    p.add_argument("--checkpoint", default=None, help="model to unlearn (default: the shipped model for the data set)")
    p.add_argument(
        "--forget",
        required=True,
        help='classes to forget (names or indices, comma-separated; "quote" a name with a comma or edge spaces)',
    )


def _unsir_options(p: argparse.ArgumentParser) -> None:
    """The UNSIR settings `unsir_recipe` reads: a preset (or the auto recipe) and the tuning flags (unlearn, sweep)."""
    p.add_argument(
        "--preset",
        default=None,
        help="a named settings preset (default: auto, the recipe derived from the data and the model)",
    )
    config = UnsirConfig()
    for name in TUNING:  # help and range from the setting's field (config.setting); checked by UnsirConfig
        kind = type(config_value(config, name))
        p.add_argument(flag(name), type=kind, default=None, help=f"{name}: {setting_info(name)['help']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m unsir_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an original model, or a gold standard with --exclude")
    _common(p)
    p.add_argument("--epochs", type=int, default=None, help=_train_help("epochs"))
    p.add_argument(
        "--exclude",
        default=None,
        help='classes to leave out (names or indices, comma-separated; "quote" a name with a comma)',
    )
    p.add_argument("--width", type=float, default=None, help="channel multiplier (default: the architecture's)")
    p.add_argument("--input-size", type=int, default=None, help=setting_info("input_size", TrainConfig)["help"])
    p.add_argument("--lr", type=float, default=None, help=_train_help("lr"))
    p.add_argument("--batch-size", type=int, default=None, help=_train_help("batch_size"))
    p.add_argument("--pretrained", action="store_true", default=None, help="start from ImageNet weights")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("unlearn", help="run UNSIR and report the metrics as JSON")
    _common(p)
    _request_options(p)
    _unsir_options(p)
    p.add_argument(
        "--retrain",
        action="store_true",
        help="also evaluate the gold standard without the forget classes (the original's training settings "
        "and --seed): a stored reference is reused, else it is trained once and stored",
    )
    p.add_argument("--save-model", default=None, help="save the unlearned model here (.safetensors)")
    p.add_argument(
        "--allow-degraded",
        action="store_true",
        help="keep (print, --out, --save-model) a result the collapse guard marked degraded; without it "
        "such a run saves nothing and exits with status 3",
    )
    p.set_defaults(func=cmd_unlearn)

    p = sub.add_parser("report", help="the HTML report of a run JSON: summary, numbers, gallery, charts, link")
    p.add_argument("run", help="a run JSON: `unlearn --out RUN.json`, or the dashboard's runs JSON")
    p.add_argument("--out", default=None, help="the HTML file to write (default: RUN.html)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--run-index",
        type=int,
        default=None,
        help="which run of a dashboard JSON holding several, from 1 (default: the last)",
    )
    p.add_argument(
        "--base-url",
        default="http://localhost:8501/",
        help="address of the dashboard the reproduce-link opens (default: http://localhost:8501/)",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("evaluate", help="accuracy of a checkpoint, overall and on forget/retain classes")
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to evaluate (default: the shipped model)")
    p.add_argument(
        "--forget", default=None, help="classes counted as forget set (default: the model's forgotten classes)"
    )
    p.add_argument(
        "--embedding",
        default=None,
        help="also write where the forget classes went (.svg): the original, this model and the stored retrained "
        "reference in one shared PCA space, with the sentence and layer-wise CKA in the JSON",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="time every phase (noise, impair, repair, evaluation, training, GradCAM)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--arch", default=None, help="only these architectures (comma-separated)")
    p.add_argument("--repeats", type=int, default=3, help="warm repeats of the 1-class run; the fastest counts")
    p.add_argument("--quick", action="store_true", help="smoke test: one model, one repeat, 2,000 training images")
    p.add_argument("--dataset", default="shapes10", help="on CPU: time the shipped models of this data set")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("robustness", help="the auto recipe on several data sets x models x forget sets x seeds")
    p.add_argument(
        "--data",
        default=None,
        help="data sets, comma-separated (default: all; see unsir_core/experiments/robustness.py)",
    )
    p.add_argument("--arch", default=None, help="architectures, comma-separated (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: 0 1 2; --quick: 0)")
    p.add_argument("--quick", action="store_true", help="a small matrix for CI: two small data sets, the Small CNN")
    p.add_argument(
        "--ablation",
        default="none",
        help="UNSIR as it is (none) and/or ablations on rows of their own, comma-separated, e.g. none,no-noise "
        "(default: none)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--out", default=None, help="write the JSON report (every cell and the summary) here")
    p.add_argument("--markdown", default=None, help="write the summary table here (.md)")
    p.add_argument("--force", action="store_true", help="replace --out and --markdown if they exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("compare", help="run several unlearning methods on one request and compare them (Table 1)")
    _common(p)
    _request_options(p)
    p.add_argument(
        "--methods",
        default=None,
        help="comma-separated methods (default: all): retrain, finetune, neggrad, neggrad_plus, "
        "random_labels, bad_teacher, scrub, salun, unsir",
    )
    p.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="METHOD.FIELD=VALUE",
        help="override one setting of one method, e.g. --set finetune.lr=0.01 (repeatable)",
    )
    p.add_argument(
        "--reference",
        default=None,
        help="a checkpoint retrained without the forget classes, used instead of training the reference",
    )
    p.add_argument(
        "--save-reference",
        default=None,
        help="save the retrained reference here (.safetensors), to pass as --reference next time",
    )
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="without 'retrain' in --methods, do not train a reference (distance-to-retrain columns stay empty)",
    )
    p.add_argument("--no-relearn", action="store_true", help="skip relearn time (the slowest metric)")
    p.add_argument("--relearn-max-epochs", type=int, default=None, help="cap of the relearn time (default 10)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: torch's choice; 1 is often faster on a busy 2-core machine)",
    )
    p.add_argument(
        "--format",
        choices=("json", "csv", "markdown"),
        default="json",
        help="format of --out (stdout always gets the JSON; the Markdown table goes to stderr)",
    )
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "sweep",
        help="what-if: run UNSIR over a grid of settings, forget sets and seeds (paper Tables 1, 5, 6, 8, 9, Fig. 7)",
    )
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to unlearn (default: the shipped model for the data set)")
    p.add_argument(
        "--forget",
        required=True,
        action="append",
        help='a forget set (names or indices, comma-separated; "quote" a name with a comma); repeat it '
        "to sweep several",
    )
    _unsir_options(p)
    p.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="SETTING=V1,V2,...",
        help="sweep one UNSIR setting by its dotted name, e.g. --set impair.lr=0.001,0.01,0.1 (repeatable: a grid)",
    )
    p.add_argument(
        "--study",
        default=None,
        help="a paper study as the grid: table5 (impair lr), table6 (repair lr), table8 (retain samples), "
        "table9 (lambda), fig7 (repair epochs), table1 (1, 2, 4, 7 forgotten classes), ablation (without noise, "
        "with random noise, without impair, without repair; prints the noise's contribution)",
    )
    p.add_argument(
        "--forget-counts",
        default=None,
        help="forget this many classes, e.g. 1,2,4,7: the first --forget set, grown by the next classes",
    )
    p.add_argument("--seeds", default=None, help="seeds, comma-separated (default: --seed, or 0)")
    p.add_argument("--workers", type=int, default=None, help="run the cells in N local processes")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run the cells as Ray tasks: a local Ray, or the cluster at ADDRESS (ray://HOST:10001, auto)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per cell (default: in-process as is; pool: cores / workers; Ray: 1)",
    )
    p.add_argument("--relearn", action="store_true", help="also measure relearn time (slow)")
    p.add_argument("--relearn-max-epochs", type=int, default=None, help="cap of the relearn time (default 10)")
    p.add_argument("--privacy", action="store_true", help="also run membership inference (entropy, confidence)")
    p.add_argument("--no-cache", action="store_true", help="run every cell again (the results still go to the cache)")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preflight(args)
        payload = args.func(args)
        write_json(payload, args.out if args.command not in ("train", "report") else None)
    except DegradedResult as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except UnsirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return 130
    return 0
