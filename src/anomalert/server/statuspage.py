"""The status page at ``/``: series, current scores, recent incidents, a chart per incident.

One self-contained HTML document (inline CSS and inline SVG charts, no scripts, no external
resources), re-rendered on every request and refreshed by the browser every 10 s. Every
name that comes from outside (series names, labels, explanations) is HTML-escaped.

Each incident chart has two panels over the same time axis: the metric that moved most
(top) and the anomaly score against the threshold (bottom), with the incident shaded.

Examples
--------
>>> svg = chart_svg([(0.0, 1.0, 5.0, (10.0,)), (60.0, 9.0, 5.0, (30.0,)),
...                  (120.0, 1.5, 5.0, (11.0,))], "cpu", 0, 60.0, 60.0)
>>> svg.startswith("<svg") and "polyline" in svg
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

__all__ = ["chart_svg", "render_status", "sparkline_svg"]

SCORE = "#1f77b4"
THRESHOLD = "#d62728"
VALUE = "#2ca02c"
SHADE = "#ff7f0e"
MAX_INCIDENTS = 12

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;
background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px}
.meta{color:#555;font-size:13px}table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f0f0f0}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;color:#fff}
.ok{background:#2e7d32}.warm{background:#757575}.anom{background:#ef6c00}.alert{background:#c62828}
.resolved{background:#546e7a}.error{color:#c62828}
.incident{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:0 0 14px;
max-width:760px}.incident h3{font-size:15px;margin:0 0 4px}.expl{font-size:13px;margin:4px 0 8px}
"""


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _polyline(
    xs: Sequence[float], ys: Sequence[float | None], sx: Any, sy: Any, color: str, width: float,
    dash: str = "",
) -> str:
    """Polylines through the finite points (a gap breaks the line)."""
    out: list[list[str]] = []
    run: list[str] = []
    for x, y in zip(xs, ys, strict=True):
        if y is None or not math.isfinite(y):
            if len(run) > 1:
                out.append(run)
            run = []
            continue
        run.append(f"{sx(x):.1f},{sy(y):.1f}")
    if len(run) > 1:
        out.append(run)
    elif len(run) == 1:  # a single point: a tiny segment so it shows
        px, py = run[0].split(",")
        out.append([run[0], f"{float(px) + 1:.1f},{py}"])
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return "".join(
        f'<polyline fill="none" stroke="{color}" stroke-width="{width}"{extra} '
        f'points="{" ".join(r)}"/>'
        for r in out
    )


def chart_svg(
    points: Sequence[tuple[float, float | None, float | None, tuple[float | None, ...]]],
    metric: str,
    metric_index: int | None,
    start: float,
    end: float,
    *,
    width: int = 720,
    height: int = 230,
) -> str:
    """An inline SVG chart: the metric (top) and score vs threshold (bottom), span shaded.

    ``points`` are ``(unix_seconds, score, threshold, values)``; ``metric_index`` picks the
    plotted value out of ``values`` (None: score panel only).
    """
    if not points:
        return '<p class="meta">no points kept for this incident</p>'
    left, right, top = 58, 10, 8
    gap, bottom = 18, 22
    plot_w = width - left - right
    has_metric = metric_index is not None and any(
        len(p[3]) > metric_index and p[3][metric_index] is not None for p in points
    )
    h_total = height - top - bottom - (gap if has_metric else 0)
    h_val = h_total * 0.55 if has_metric else 0.0
    h_score = h_total - h_val
    xs = [p[0] for p in points]
    x0, x1 = min(xs + [start]), max(xs + [end])
    if x1 <= x0:
        x1 = x0 + 60

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="incident chart" '
        f'style="background:#fff;font:11px sans-serif">'
    ]

    def panel(y_top: float, h: float, series: list[tuple[list[float | None], str, float, str]],
              label: str) -> None:
        vals = _finite([v for ys, *_ in series for v in ys])
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad

        def sy(y: float) -> float:
            return y_top + h - (y - lo) / (hi - lo) * h

        shade_x, shade_w = sx(start), max(2.0, sx(end) - sx(start))
        parts.append(
            f'<rect x="{left}" y="{y_top:.1f}" width="{plot_w}" height="{h:.1f}" fill="#fcfcfc" '
            f'stroke="#ccc"/><rect class="span" x="{shade_x:.1f}" y="{y_top:.1f}" '
            f'width="{shade_w:.1f}" height="{h:.1f}" fill="{SHADE}" fill-opacity="0.22"/>'
        )
        for ys, color, w, dash in series:
            parts.append(_polyline(xs, ys, sx, sy, color, w, dash))
        parts.append(
            f'<text x="{left - 4}" y="{y_top + 10:.1f}" text-anchor="end">{_fmt(hi - pad, 3)}</text>'
            f'<text x="{left - 4}" y="{y_top + h:.1f}" text-anchor="end">{_fmt(lo + pad, 3)}</text>'
            f'<text x="{left + 4}" y="{y_top + 12:.1f}" fill="#444">{escape(label)}</text>'
        )

    y = float(top)
    if has_metric:
        assert metric_index is not None
        vals = [p[3][metric_index] if len(p[3]) > metric_index else None for p in points]
        panel(y, h_val, [(vals, VALUE, 1.6, "")], metric)
        y += h_val + gap
    scores = [p[1] for p in points]
    thresholds = [p[2] for p in points]
    panel(y, h_score, [(thresholds, THRESHOLD, 1.2, "5,3"), (scores, SCORE, 1.8, "")],
          "anomaly score vs threshold (dashed)")
    base = height - 6
    parts.append(
        f'<text x="{left}" y="{base}">{_time(x0)} UTC</text>'
        f'<text x="{width - right}" y="{base}" text-anchor="end">{_time(x1)} UTC</text></svg>'
    )
    return "".join(parts)


def sparkline_svg(scores: Sequence[float | None], threshold: float | None) -> str:
    """A small inline SVG of recent scores with the threshold as a dashed line."""
    vals = _finite(list(scores) + ([threshold] if threshold is not None else []))
    if len(_finite(scores)) < 2:
        return ""
    w, h = 160, 28
    lo, hi = min(vals), max(vals)
    hi = hi if hi > lo else lo + 1
    xs = list(range(len(scores)))

    def sx(x: float) -> float:
        return 1 + x / max(1, len(scores) - 1) * (w - 2)

    def sy(y: float) -> float:
        return h - 2 - (y - lo) / (hi - lo) * (h - 4)

    line = _polyline(xs, list(scores), sx, sy, SCORE, 1.2)
    thr = ""
    if threshold is not None and math.isfinite(threshold):
        thr = (f'<line x1="0" x2="{w}" y1="{sy(threshold):.1f}" y2="{sy(threshold):.1f}" '
               f'stroke="{THRESHOLD}" stroke-dasharray="3,2"/>')
    return f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}">{thr}{line}</svg>'


def _badge(rt: Any) -> str:
    v = rt.last
    if rt.alerting is not None:
        return '<span class="badge alert">ALERTING</span>'
    stale = getattr(rt, "stale_since", None)
    if stale is not None:
        return f'<span class="badge warm">stale: no data since {_time(stale.timestamp())}</span>'
    if v is None or v.score is None or not math.isfinite(v.score):
        return '<span class="badge warm">warming up</span>'
    if v.is_anomalous:
        return '<span class="badge anom">anomalous</span>'
    return '<span class="badge ok">ok</span>'


def _metric_index(rt: Any, metrics: Sequence[str]) -> tuple[str, int | None]:
    cols = list(rt.columns)
    for m in metrics:
        if m in cols:
            return m, cols.index(m)
        alias = f"{m[:3]}_count" if m.endswith("_rate") else None
        if alias in cols:
            return str(alias), cols.index(str(alias))
    return (cols[0], 0) if cols else ("", None)


def render_status(state: Any) -> str:
    """The status page of a :class:`~anomalert.server.runtime.ServiceState` as an HTML document."""
    from anomalert.server.runtime import _anchor

    with state.lock:
        runtimes = sorted(state.series.values(), key=lambda r: r.name)
        rows = []
        for rt in runtimes:
            v = rt.last
            recent = [p[1] for p in list(rt.history)[-120:]]
            rows.append(
                "<tr>"
                f"<td>{escape(rt.name)}</td><td>{escape(rt.kind)}</td>"
                f"<td>{_time(v.timestamp.timestamp()) if v is not None else '–'}</td>"
                f'<td class="num">{_fmt(v.score if v is not None else None)}</td>'
                f'<td class="num">{_fmt(v.threshold if v is not None else None)}</td>'
                f"<td>{_badge(rt)}</td><td class=\"num\">{rt.points}</td>"
                f"<td>{sparkline_svg(recent, v.threshold if v is not None else None)}</td></tr>"
            )
        incidents = []
        for rt in runtimes:
            for inc in rt.monitor.incidents[-MAX_INCIDENTS:]:
                incidents.append((inc.start, rt, inc))
        incidents.sort(key=lambda t: t[0], reverse=True)
        cards = []
        for _, rt, inc in incidents[:MAX_INCIDENTS]:
            metric, idx = _metric_index(rt, inc.metrics)
            end = (inc.resolved_at or inc.end).timestamp()
            svg = chart_svg(rt.chart(inc.id), metric, idx, inc.start.timestamp(), end)
            status = (
                '<span class="badge alert">open</span>' if inc.is_open
                else f'<span class="badge resolved">resolved {_time(inc.resolved_at.timestamp())}'
                f'{" (series stale)" if getattr(inc, "stale", False) else ""}</span>'
            )
            if not inc.is_open and rt.alerting == inc.id:  # its resolution waits for the cooldown
                status += ' <span class="badge alert">notified firing until the cooldown ends</span>'
            cards.append(
                f'<div class="incident" id="incident-{inc.id}-{_anchor(rt.name)}">'
                f"<h3>{escape(rt.name)} · incident #{inc.id} {status}</h3>"
                f'<div class="meta">{_time(inc.start.timestamp())} → {_time(inc.end.timestamp())} UTC'
                f" · peak score {_fmt(inc.peak_score)} at {_time(inc.peak_time.timestamp())}"
                f" (threshold {_fmt(inc.threshold)}) · {inc.alerts} alerting point(s)"
                f" · metrics: {escape(', '.join(inc.metrics) or '–')}</div>"
                f'<div class="expl">{escape(inc.explanation)}</div>{svg}</div>'
            )
        h = state.health
        errors = "".join(
            f'<li class="error">{escape(q)}: {n} consecutive error(s): {escape(msg[:300])}</li>'
            for q, (n, msg) in dict(h.errors).items()
        )
        errors += "".join(
            f'<li class="error">query {escape(q)} returns no series (since {_time(t)} UTC)</li>'
            for q, t in dict(h.empty).items()
        ) + "".join(
            f'<li class="error">query {escape(q)} returns {n} series, more than its max_series: '
            f"{d} not monitored</li>"
            for q, (d, n) in dict(h.dropped).items()
        )
        stale = [rt.name for rt in runtimes if getattr(rt, "stale_since", None) is not None]
        notes = "".join(f"<li>{escape(n)}</li>" for n in list(state.notes)[-5:])
    pending = state.store.pending_count(state.sinks) if state.store is not None else 0
    sinks = state.sink_health()
    status = state.status(sinks)
    errors += "".join(
        f'<li class="error">sink {escape(s.sink)} failing ({s.attempts} attempt(s) at '
        f"{escape(s.notification or '?')}): {escape((s.error or '')[:300])}</li>"
        for s in sinks if s.failing
    ) + "".join(
        f'<li class="error">sink {escape(s.sink)}: {s.dead} notification(s) given up, the '
        f"latest {escape((s.last_dead or '')[:300])}</li>"
        for s in sinks if s.dead
    )
    table = (
        "<table><tr><th>series</th><th>source</th><th>latest point (UTC)</th><th>score</th>"
        "<th>threshold</th><th>state</th><th>points</th><th>recent scores</th></tr>"
        + "".join(rows) + "</table>"
        if rows else '<p class="meta">no series yet</p>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="10">'
        f"<title>{escape(state.title)} status</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(state.title)}</h1>"
        f'<div class="meta">status <b>{status}</b> · {len(runtimes)} series · last poll '
        f"{_time(h.last_poll)} UTC · outbox pending {pending} · up "
        f"{time.time() - state.started:.0f} s · sinks {escape(', '.join(state.sinks) or 'none')}"
        f"{f' · {len(stale)} stale series' if stale else ''}"
        f"{f' · {h.forgotten} forgotten (stale for their forget_after)' if h.forgotten else ''}</div>{'<ul>' + errors + '</ul>' if errors else ''}"
        f"{'<ul class=meta>' + notes + '</ul>' if notes else ''}"
        f"<h2>Series</h2>{table}"
        f"<h2>Recent incidents</h2>"
        f"{''.join(cards) if cards else '<p class=meta>no incidents</p>'}"
        "</body></html>"
    )
