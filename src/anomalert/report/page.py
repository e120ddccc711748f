"""The pieces every report page is made of: one self-contained HTML file, images embedded.

The demo's report (:mod:`.html`) and the reports of ``anomalert detect`` / ``evaluate``
(:mod:`.detection`, :mod:`.many`) are built from these: the page with its style sheet,
embedded PNG figures, plain tables and the incident table. Nothing is loaded from the
network or from other files; times are UTC and say so.

Examples
--------
>>> pct(0.0123), pct(0.0), pct(0.5)
('1.23%', '0%', '50.0%')
>>> when("2025-01-02T03:04:05+00:00"), when("2025-01-02T03:04:05+00:00", seconds=True)
('2025-01-02 03:04 UTC', '2025-01-02 03:04:05 UTC')
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from anomalert.detectors import preset as preset_of

__all__ = ["CSS", "describe_detector", "esc", "facts", "image", "incident_table", "minutes",
           "page", "pct", "table", "when"]

CSS = """
body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}.meta{color:#666}nav a{margin-right:1em}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px}th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fdecea}tr.good td{background:#eef7ee}
table.facts th{text-align:left;vertical-align:top;white-space:nowrap}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:13px}.note{color:#555;font-size:13px}
p.verdict{background:#f5f8ff;border-left:4px solid #4a78c2;padding:.5em .8em}
code{font-size:13px}
"""


def minutes(m: float) -> str:
    """A duration in minutes as the CLI prints it: ``"45 min"``, ``"2.5 h"``."""
    return f"{m / 60:.1f} h" if m >= 90 else f"{m:.0f} min"


def pct(x: float) -> str:
    """A share as a percentage with enough digits to tell small ones apart."""
    if x == 0:
        return "0%"
    return f"{x:.1%}" if x >= 0.1 else f"{x:.2%}" if x >= 0.001 else f"{x:.3%}"


def esc(text: Any) -> str:
    return html.escape(str(text))


def when(stamp: Any, *, seconds: bool = False) -> str:
    """A time as the reports print it, in UTC and saying so."""
    t = pd.Timestamp(stamp)
    t = t.tz_convert("UTC") if t.tzinfo is not None else t
    return t.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def describe_detector(name: str) -> str:
    """What a detector is, from its preset description or its class docstring."""
    plan = preset_of(name)
    if plan.description:
        return plan.description
    doc = (type(plan.factory()).__doc__ or "").strip().splitlines()
    return doc[0].rstrip(".") if doc else name


def image(data: bytes | Path, caption: str) -> str:
    """A PNG (its bytes, or a file to read) embedded as a figure with its caption."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    encoded = base64.b64encode(raw).decode("ascii")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")



def table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[int] = (),
          classes: Sequence[str] | None = None) -> str:
    """A plain table; cells are escaped, columns in ``numeric`` right-aligned."""
    body = []
    for k, row in enumerate(rows):
        cls = f" class={classes[k]}" if classes and classes[k] else ""
        body.append(f"<tr{cls}>" + "".join(
            f'<td{" class=n" if j in numeric else ""}>{esc(c)}</td>' for j, c in enumerate(row))
            + "</tr>")
    return ("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"
            + "".join(body) + "</table>")


def facts(items: Sequence[tuple[str, str]]) -> str:
    """A two-column table of what a run used (label, HTML)."""
    return ("<table class=facts>" + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>"
                                            for k, v in items) + "</table>")


def incident_table(groups: Mapping[str, Sequence[Mapping[str, Any]]], *, limit: int,
                   labelled: bool = True, detector_column: bool = True, seconds: bool = False,
                   note: str = "") -> str:
    """Incidents as ``anomalert detect`` lists them (UTC), grouped by detector (or series).

    Each row is a mapping with ``id``, ``start``, ``end``, ``alerts``, ``peak_score``,
    ``explanation``, optionally ``false`` (with labels), ``metrics``, ``carried_over``
    (opened before the held-out rows), ``in_training`` (opened in the training window:
    marked T as the CLI does) and ``reopened`` (alerting again within the cooldown after it
    resolved: marked R). ``limit`` rows per group are listed, the rest counted.
    """
    from anomalert.detectors.base import format_value

    has_metrics = any("metrics" in r for rows in groups.values() for r in rows)
    head = (["detector"] if detector_column else []) + [
        "incident", "start (UTC)", "end (UTC)", "alerts", "peak score"]
    head += (["true / false"] if labelled else []) + (["metrics"] if has_metrics else [])
    head += ["explanation at peak"]
    width = len(head)
    numeric = {head.index("alerts"), head.index("peak score")}
    body = []
    for name, rows in groups.items():
        for k, inc in enumerate(rows[:limit]):
            mark = (f"#{inc['id']}" + ("T" if inc.get("in_training") else "")
                    + ("R" if inc.get("reopened") else ""))
            if inc.get("carried_over"):
                mark += " (open before)"
            cells = ([name if k == 0 else ""] if detector_column else []) + [
                mark, when(inc["start"], seconds=seconds), when(inc["end"], seconds=seconds),
                f"{inc['alerts']:,}", format_value(inc["peak_score"], 3)]
            if labelled:
                cells.append("false" if inc.get("false") else "true")
            if has_metrics:
                cells.append(", ".join(inc.get("metrics", [])))
            cells.append(inc["explanation"])
            body.append(("<tr class=bad>" if inc.get("false") else "<tr>") + "".join(
                f'<td{" class=n" if j in numeric else ""}>{esc(c)}</td>'
                for j, c in enumerate(cells)) + "</tr>")
        lead = "<td></td>" if detector_column else ""
        span = width - (1 if detector_column else 0)
        if len(rows) > limit:
            rest = rows[limit:]
            false = (f" ({sum(bool(r.get('false')) for r in rest)} of them false)"
                     if labelled else "")
            body.append(f"<tr>{lead}<td colspan={span} class=note>… and {len(rest)} more"
                        f"{false}</td></tr>")
        if not rows:
            first = f"<td>{esc(name)}</td>" if detector_column else ""
            body.append(f"<tr>{first}<td colspan={span} class=note>no incident</td></tr>")
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body)
            + "</table>" + (f"<p class=note>{note}</p>" if note else ""))


def page(title: str, parts: Sequence[str]) -> str:
    """The whole self-contained page."""
    return "\n".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>",
        *parts, "</main></body></html>"])
