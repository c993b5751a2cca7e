"""The report to hand out: one self-contained HTML page per run, readable offline and printable to PDF.

Built from the run JSON alone (`UnsirRun.to_json()`: the CLI's `unlearn --out` file or a dashboard
run), so `python -m unsir_core report RUN.json --out report.html` and the dashboard's download make
the same file. Contents: title, plain-language summary, the verdict question by question (from the audits
the run JSON carries, "not measured" for the rest), setup, the key numbers in context
(original, unlearned, retrained), a before/after gallery with each model's prediction, titled
charts (static SVG: no script, a few KB each), the chain of requests, settings and environment, and
the link that reproduces the run. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unsir_core.checkpoints.lineage import chain, timeline
from unsir_core.common.escaping import Markup, html
from unsir_core.common.numbers import fixed, pct, pp
from unsir_core.common.vocabulary import FORGET, RETAIN, stage_color, stage_title
from unsir_core.data import DATASETS
from unsir_core.metrics.closeness import JS_DEFINITION, TOW_DEFINITION
from unsir_core.metrics.verdict import AUDIT_OF
from unsir_core.models import MODELS
from unsir_core.report import svgchart
from unsir_core.report.share import link
from unsir_core.report.summary import class_names, degraded_message, run_verdict, summarize
from unsir_core.report.views import views_html

COMPARED = ("original", "start", "repair", "retrain")  # the models the report puts side by side
PNG_URI = "data:image/png;base64,"  # the only image source a report embeds (gallery.png_data_uri)
LINE_COLORS = ("#E4572E", "#C0392B", "#D35400", "#A93226", "#F39C12", "#922B21")  # one per forgotten class

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem;
margin-top:2rem}.muted{color:#666;font-size:.9rem}.summary{font-size:1.05rem;background:#f6f4fb;
border-left:4px solid #8E44AD;padding:.8rem 1rem}.warn{background:#fdecea;border-left-color:#E4572E}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;
font-size:.92rem}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:.6rem}
.card{border:3px solid #ccc;border-radius:6px;padding:.4rem;font-size:.8rem;break-inside:avoid}
.card img{width:96px;height:96px;image-rendering:pixelated;display:block;margin:0 auto .3rem}
.forget{border-color:#E4572E}.retain{border-color:#2E86DE}
svg.chart{width:100%;height:auto;break-inside:avoid;margin:.4rem 0 1rem}code{word-break:break-all;font-size:.8rem}
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}a{color:#222}
.card,svg.chart,table{break-inside:avoid}@page{margin:14mm}}
"""


def _table(rows: list[list[Any]], head: list[str] | None = None) -> str:
    """An HTML table; every cell and header is escaped here (pass raw text, or `Markup` for markup made on purpose)."""
    th = "".join(f"<th>{html(h)}</th>" for h in head) if head else ""
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if str(c)[:1].isdigit() else ''}>{html(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table>{f'<tr>{th}</tr>' if th else ''}{body}</table>"


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def recipe_html(report: Mapping[str, Any]) -> str:
    """How the settings were chosen: the recipe's name and its choices, when the run JSON has them."""
    recipe = report.get("recipe") or {}
    choices = "".join(f"<li>{html(c)}</li>" for c in recipe.get("choices", []))
    return (
        (
            f"<p>Recipe: <b>{html(recipe.get('name', report.get('preset', '')))}</b></p>"
            + (f"<ul>{choices}</ul>" if choices else "")
        )
        if recipe or report.get("preset")
        else ""
    )


def key_numbers(report: Mapping[str, Any]) -> str:
    m = report["metrics"]
    shown = [s for s in COMPARED if s in m]
    rows = [
        [name] + [pct(m[s][key]) for s in shown]
        for key, name in (
            ("forget_acc", f"A_Df: forget classes ({', '.join(report['forgotten_total'])})"),
            ("retain_acc", "A_Dr: retain classes"),
            ("overall_acc", "All test images"),
        )
    ]
    return _table(rows, ["test accuracy"] + [stage_title(s) for s in shown])


def verdict_html(report: Mapping[str, Any], audits: Mapping[str, Any] | None = None) -> str:
    """The verdict as a table, one row per question ("not measured" where its audit was not computed)."""
    found = run_verdict(report, audits)
    rows = [
        [c.question.capitalize(), c.text if c.measured else f"not measured ({AUDIT_OF[c.key]} was not computed)"]
        for c in found.clauses
    ]
    closeness = found.closeness() or "No retrained model in this run: ToW and JS need one."
    return (
        _table(rows, ["question", "answer"])
        + f"<p>{html(closeness)}</p><p class='muted'>{html(TOW_DEFINITION)} {html(JS_DEFINITION)}</p>"
    )


def gallery_html(report: Mapping[str, Any]) -> str:
    g = report.get("extras", {}).get("gallery")
    if not g:
        return "<p class='muted'>No gallery in this run's JSON (made by an older version).</p>"
    stages = [s for s in COMPARED if s in g["predictions"]]
    cards = []
    for i, img in enumerate(g["images"]):
        lines = []
        for s in stages:
            pred, conf = g["predictions"][s][i]
            mark = " ✓" if pred == img["label"] else ""
            lines.append(
                f"<div><b style='color:{stage_color(s)}'>{stage_title(s)}</b>: {html(pred)}{mark} {pct(conf, 0)}</div>"
            )
        picture = (
            f"<img src='{html(img['png'])}' alt='{html(img['label'])}'>" if str(img["png"]).startswith(PNG_URI) else ""
        )  # never an address the page would fetch
        cards.append(
            f"<div class='card {html(img['group'])}'>{picture}"
            f"<div><b>{html(img['label'])}</b> ({html(img['group'])} class)</div>{''.join(lines)}</div>"
        )
    return f"<div class='gallery'>{''.join(cards)}</div>"


def charts(report: Mapping[str, Any]) -> list[str]:
    m, names = report["metrics"], class_names(report)
    forgotten = list(report["forgotten_total"])
    shown = [s for s in COMPARED if s in m]
    stages = list(m)
    out = [
        svgchart.bars(
            "Forget and retain accuracy of each model",
            [stage_title(s) for s in stages],
            {
                "A_Df (forget classes)": ([m[s]["forget_acc"] for s in stages], FORGET),
                "A_Dr (retain classes)": ([m[s]["retain_acc"] for s in stages], RETAIN),
            },
            "test accuracy (%)",
            values=True,
        )
    ]
    where = [s for s in ("repair", "retrain") if s in m]
    totals = {s: sum(m[s]["prediction_distribution"]) or 1 for s in where}
    out.append(
        svgchart.bars(
            f"Where the forget-class test images go ({', '.join(forgotten)})",
            names,
            {
                stage_title(s): ([v / totals[s] * 100 for v in m[s]["prediction_distribution"]], stage_color(s))
                for s in where
            },
            "share of forget images (%)",
            highlight=forgotten,
        )
    )
    out.append(
        svgchart.bars(
            "Test accuracy per class",
            names,
            {stage_title(s): (m[s]["per_class_acc"], stage_color(s)) for s in shown},
            "test accuracy (%)",
            highlight=forgotten,
        )
    )
    requests = chain(report)
    if len(requests) > 1:
        points = timeline(requests, names)
        series = {
            f"A_Df {c}": ([p["forget"][c] for p in points], LINE_COLORS[i % len(LINE_COLORS)])
            for i, c in enumerate(forgotten)
        }
        series["A_Dr (retained classes)"] = ([p["retain_acc"] for p in points], RETAIN)
        out.append(
            svgchart.lines(
                "The chain of requests: accuracy after each one",
                [f"{p['label']} ({p['time_s']:.1f} s)" for p in points],
                series,
                "test accuracy (%)",
            )
        )
    t = report["timings_s"]
    phases = [p for p in ("noise", "impair", "repair", "evaluate", "retrain", "reference") if p in t]
    top = max(t[p] for p in phases)
    out.append(
        svgchart.bars(
            "Time per phase",
            phases,
            {"seconds": ([t[p] for p in phases], stage_color("repair"))},
            "seconds",
            y_max=svgchart.nice_ceiling(top * 1.1),
            values=True,
        )
    )
    return out


def titles(report: Mapping[str, Any]) -> tuple[str, str]:
    """The data set's and the architecture's titles (their keys when unknown)."""
    dataset = DATASETS[report["dataset"]].title if report["dataset"] in DATASETS else report["dataset"]
    return dataset, MODELS[report["arch"]].title if report["arch"] in MODELS else report["arch"]


def _head(title: str, report: Mapping[str, Any]) -> str:
    """The page's start: document head with the style sheet, title and what it is about."""
    dataset, arch = titles(report)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html(title)}</title>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head><body>"
        f"<h1>{html(title)}</h1><p class='muted'>UNSIR (Tarun et al., <i>Fast Yet Effective Machine "
        f"Unlearning</i>) on {html(dataset)} with {html(arch)}; made by UNSIR Studio.</p>"
    )


def render(
    report: Mapping[str, Any],
    base_url: str = "http://localhost:8501/",
    degraded: str | None = None,
    title: str | None = None,
    audits: Mapping[str, Any] | None = None,
) -> str:
    """The whole report as one HTML string; `audits` computed on the run (default: the JSON's "audits")."""
    names = class_names(report)
    forget = ", ".join(report["forget"])
    earlier = [c for c in report["forgotten_total"] if c not in report["forget"]]
    title = title or f"Unlearning report: forget {forget}"
    url = link(report, base_url)
    requests = chain(report)
    chain_rows = [
        [
            str(i),
            ", ".join(r["forget"]),
            str(r["seed"]),
            pct(r["metrics"]["repair"]["forget_acc"]),
            pct(r["metrics"]["repair"]["retain_acc"]),
            f"{fixed(r['unlearn_s'], 2)} s",
            r["parent"] or "",
        ]
        for i, r in enumerate(requests, start=1)
    ]
    dataset, arch = titles(report)
    setup = [
        ["Data set", dataset],
        ["Model", arch],
        ["Forget set (this request)", Markup(f"<b style='color:{FORGET}'>{html(forget)}</b>")],
        ["Already forgotten before", ", ".join(earlier) or "nothing"],
        ["Preset", report.get("preset", "")],
        ["Seed", report["config"]["seed"]],
        ["Classes", ", ".join(names)],
        ["Device", report.get("device", "")],
    ]
    env = report.get("extras", {}).get("environment", {})
    settings = [[k, v] for k, v in _flat(report["config"]).items()]
    degraded = degraded or degraded_message(report)
    summary = summarize(report, degraded, audits)
    parts = [
        _head(title, report),
        f"<h2>Summary</h2><p class='summary{' warn' if degraded else ''}'>{html(summary)}</p>",
        f"<h2>Verdict: how close to the retrained model</h2>{verdict_html(report, audits)}",
        f"<h2>Setup</h2>{_table(setup)}",
        f"<h2>Key numbers</h2><p class='muted'>Test accuracy. Original: the model before any unlearning. "
        f"{'Starting model: the model this request started from. ' if 'start' in report['metrics'] else ''}"
        f"Unlearned: after impair and repair. Retrained: trained from scratch without the forgotten classes, the "
        f"gold standard{'' if 'retrain' in report['metrics'] else ' (not trained in this run)'}.</p>"
        f"{key_numbers(report)}"
        + (
            f"<p class='muted'>Repair check: {html(report['repair_check']['message'])}</p>"
            if report.get("repair_check")
            else ""
        ),
        "<h2>Before and after</h2><p class='muted'>Test images of the forget classes (red frame) and of retain "
        "classes (blue frame), with each model's prediction and confidence. After unlearning a forget-class image "
        "should get another class; a retain-class image should keep its own.</p>" + gallery_html(report),
        "<h2>Charts</h2>" + "".join(charts(report)),
        views_html(report, names),
    ]
    if len(requests) > 1:
        parts.append(
            "<h2>Chain of requests</h2>"
            + _table(chain_rows, ["#", "forget", "seed", "A_Df after", "A_Dr after", "unlearning", "started from"])
        )
    parts += [
        "<h2>Settings</h2>" + recipe_html(report) + _table(settings, ["setting", "value"]),
        f"<h2>Environment</h2>{_table([[k, v] for k, v in env.items()])}",
        f"<h2>Reproduce</h2><p>Open this link in UNSIR Studio to re-run the same request with the same seed and "
        f"compare with the numbers above:</p><p><a href='{html(url)}'><code>{html(url)}</code></a></p>",
        "</body></html>",
    ]
    return "".join(parts)


def render_comparison(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    names: tuple[str, str],
    changes: list[str],
    base_url: str = "http://localhost:8501/",
) -> str:
    """A report comparing two runs (`names` = their titles, `changes` = what differs, in words)."""
    m_a, m_b = a["metrics"], b["metrics"]
    rows = [
        [label]
        + [pct(m[s][key]) for m in (m_a, m_b) for s in ("original", "repair")]
        + [pp(m_b["repair"][key] - m_a["repair"][key])]
        for key, label in (
            ("forget_acc", "A_Df: forget classes"),
            ("retain_acc", "A_Dr: retain classes"),
            ("overall_acc", "All test images"),
        )
    ]
    t_a, t_b = a["timings_s"]["unlearn"], b["timings_s"]["unlearn"]
    rows.append(["Unlearning time", "", f"{fixed(t_a, 2)} s", "", f"{fixed(t_b, 2)} s", f"{t_b - t_a:+.2f} s"])
    head = [""] + [f"{run} · {stage_title(s)}" for run in ("A", "B") for s in ("original", "repair")] + ["B − A"]
    colors = (stage_color("repair"), stage_color("start"))
    series = {
        f"Run {run}": ([m["repair"][k] for k in ("forget_acc", "retain_acc", "overall_acc")], c)
        for run, m, c in (("A", m_a, colors[0]), ("B", m_b, colors[1]))
    }
    per_class = {
        stage_title("original") + " (A)": (m_a["original"]["per_class_acc"], stage_color("original")),
        **{
            f"{stage_title('repair')} ({run})": (m["repair"]["per_class_acc"], c)
            for run, m, c in (("A", m_a, colors[0]), ("B", m_b, colors[1]))
        },
    }
    flat_a, flat_b = _flat(a["config"]), _flat(b["config"])
    settings = [[k, flat_a.get(k), v] for k, v in flat_b.items() if flat_a.get(k) != v]
    forgotten = sorted(set(a["forgotten_total"]) | set(b["forgotten_total"]))
    return "".join(
        [
            _head(f"Comparison: {names[0]} vs {names[1]}", b),
            "<h2>What changed</h2><ul>"
            + (
                "".join(f"<li>{html(c)}</li>" for c in changes)
                or "<li>Nothing: the same setup (any difference is run-to-run variation)</li>"
            )
            + "</ul>",
            f"<h2>Summaries</h2><p><b>A</b>: {html(names[0])}</p><p class='summary'>{html(summarize(a))}</p>"
            f"<p><b>B</b>: {html(names[1])}</p><p class='summary'>{html(summarize(b))}</p>",
            f"<h2>Key numbers</h2>{_table(rows, head)}",
            "<h2>Charts</h2>"
            + svgchart.bars(
                "The unlearned model of each run",
                ["A_Df (forget classes)", "A_Dr (retain classes)", "All test images"],
                series,
                "test accuracy (%)",
                values=True,
            )
            + svgchart.bars(
                "Test accuracy per class", class_names(b), per_class, "test accuracy (%)", highlight=forgotten
            ),
            "<h2>Settings that differ</h2>"
            + (_table(settings, ["setting", "run A", "run B"]) if settings else "<p>None.</p>"),
            "<h2>Reproduce</h2>"
            + "".join(
                f"<p>Run {run}: <a href='{html(url)}'><code>{html(url)}</code></a></p>"
                for run, url in (("A", link(a, base_url)), ("B", link(b, base_url)))
            ),
            "</body></html>",
        ]
    )
