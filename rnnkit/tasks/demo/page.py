"""The tour's page: one self-contained HTML file (figures inlined), readable offline and mailable."""

from __future__ import annotations

import base64
import datetime
import html
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import rnnkit
from rnnkit.files import write_text

# The page reads a tour's results (rnnkit.tasks.demo.tour.TourResult, PartResult) by their fields: the
# tour imports this module, not the other way round.
TourResult = PartResult = Any

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d2330; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #d8dce5; padding-bottom: 0.2em; }
.meta { color: #5c6475; font-size: 13px; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 14px; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e3e6ed; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.model td { font-weight: 600; }
.better { color: #127a3a; } .worse { color: #a33a1c; }
code, pre { font: 13px/1.4 ui-monospace, "SF Mono", Menlo, monospace; background: #f3f5f9; }
code { padding: 0.1em 0.3em; } pre { padding: 0.8em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; display: block; margin: 0.8em 0; border: 1px solid #e3e6ed; }
img.gif { width: 320px; image-rendering: pixelated; }
.error { color: #a33a1c; }
"""

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}


def _e(text: object) -> str:
    return html.escape(str(text))


def _figure(path: Path) -> str:
    if path.suffix == ".txt":
        return f"<pre>{_e(path.read_text(encoding='utf-8', errors='replace'))}</pre>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    css = ' class="gif"' if path.suffix == ".gif" else ""
    return f'<img{css} alt="{_e(path.name)}" src="data:{MIME.get(path.suffix, "application/octet-stream")};base64,{data}">'


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _metrics_table(result: PartResult) -> str:
    """The part's model, its other runs and the task's baselines on the same test metrics."""
    model = result.runs[0].metrics
    others = result.comparisons()
    shared = [m for m in model if any(m in scores for scores in others.values())] or list(model)
    head = "".join(f'<th class="num">{_e(m.removeprefix("test_"))}</th>' for m in shared)
    rows = [f'<tr class="model"><td>{_e(result.runs[0].label)} (rnnkit)</td>' +
            "".join(f'<td class="num">{_value(model.get(m))}</td>' for m in shared) + "</tr>"]
    for name, scores in others.items():
        rows.append(f"<tr><td>{_e(name)}</td>" +
                    "".join(f'<td class="num">{_value(scores.get(m))}</td>' for m in shared) + "</tr>")
    return f"<table><tr><th>method (test part)</th>{head}</tr>{''.join(rows)}</table>"


def _summary_table(tour: TourResult) -> str:
    rows = []
    for result in tour.parts:
        name = f'<a href="#{_e(result.part.name)}">{_e(result.part.name)}</a>'
        if result.error is not None:
            rows.append(f'<tr><td>{name}</td><td colspan="6" class="error">failed: '
                        f'{_e(result.error.splitlines()[-1])}</td><td class="num">{result.seconds:.0f}</td></tr>')
            continue
        metric = result.part.metric
        mine = result.runs[0].metrics.get(metric)
        best = result.best_comparison()
        wins = result.model_wins()
        verdict = "" if wins is None else '<span class="better">model</span>' if wins else \
            '<span class="worse">baseline</span>'
        rows.append(f"<tr><td>{name}</td><td>{_e(result.runs[0].label)}</td><td>{_e(metric.removeprefix('test_'))}"
                    f'</td><td class="num">{_value(mine)}</td><td>{_e(best[0]) if best else "-"}</td>'
                    f'<td class="num">{_value(best[1]) if best else "-"}</td>'
                    f'<td>{verdict}</td><td class="num">{result.seconds:.0f}</td></tr>')
    return ('<table id="summary"><tr><th>part</th><th>model</th><th>test metric</th><th class="num">model</th>'
            '<th>best comparison</th><th class="num">its value</th><th>better</th><th class="num">seconds</th></tr>'
            f"{''.join(rows)}</table>")


def tour_command(only: Sequence[str] | None, quick: bool) -> str:
    """The command line that runs these parts of the tour again."""
    return "rnnkit demo" + "".join(f" --only {name}" for name in only or ()) + (" --quick" if quick else "")


def _part_section(result: PartResult, quick: bool) -> str:
    part = result.part
    lines = [f'<h2 id="{_e(part.name)}">{_e(part.title)}</h2>', f"<p>{_e(part.what)}</p>"]
    if result.error is not None:
        lines.append(f'<p class="error">This part failed:</p><pre>{_e(result.error)}</pre>')
    else:
        lines.append(f"<p><b>{_e(result.line())}</b></p>")
        lines.append(_metrics_table(result))
        lines += [_figure(path) for path in result.figures if path.exists()]
    lines.append(f"<p>Reproduce this part alone: <code>{_e(tour_command([part.name], quick))}</code>; "
                 "or each run by hand:</p>")
    lines.append("<pre>" + "\n".join(_e(r.command) for r in result.runs) + "</pre>" if result.runs else
                 f"<pre>{_e(part.command(part.models[0], quick))}</pre>")
    if result.runs:
        lines.append("<p class=\"meta\">Run folders (config, logs, checkpoint, report): " +
                     ", ".join(f"<code>{_e(r.run_dir)}</code>" for r in result.runs) + "</p>")
    return "\n".join(lines)


def render(tour: TourResult) -> str:
    command = tour_command(tour.only, tour.quick)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{torch.get_num_threads()} threads")
    quick = (" This is the <b>--quick</b> tour: a handful of steps each, to check that everything runs; the numbers "
             "mean nothing.") if tour.quick else ""
    body = [f"<h1>rnnkit {rnnkit.__version__}: the tour</h1>",
            (f'<p class="meta">{now}; {_e(machine)}; {tour.seconds / 60:.1f} min in all; '
             f"<code>{_e(command)}</code></p>"),
            ("<p>Each part trains a small model on real data for a minute or less and puts its test result beside "
            "the baseline a practitioner would otherwise use, on the same test part. Each run keeps the weights of "
            "its best validation score and reads its test part once, in its report. The parts' presets and budgets "
            "were picked to fit a few minutes, with earlier tours' reports (test metrics included) in view: the page "
            "shows what a minute of training gives, it is not a result; the documentation's application pages hold "
            f"the results of the full presets.{quick}</p>"),
            _summary_table(tour), *[_part_section(result, tour.quick) for result in tour.parts]]
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>rnnkit tour</title><style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_page(tour: TourResult, path: str | Path) -> Path:
    """Write the tour's page to ``path`` (atomically) and return it."""
    return write_text(path, render(tour))
