"""The report's figures: the tutorials' plots, made right. Every function writes one PNG.

All figures are drawn on :class:`matplotlib.figure.Figure` objects (no pyplot state, no
display needed) and saved with the Agg canvas. Time axes are UTC; every axis has a label
with its unit; true events are shaded spans, one colour per event type in every figure; the
threshold is drawn where the detector really compares (its ``threshold_``, in score units).

Values are drawn as stored and as explanations print them: error rates (``*_rate``) are
fractions of requests (0.47, not 47 %); CPU and memory usage are percent.

Examples
--------
>>> unit("cpu_usage"), unit("5xx_rate"), unit("avg_response_time_ms")
('%', 'fraction', 'ms')
>>> event_color("5xx_spike") == event_color("5xx_spike") != event_color("4xx_spike")
True
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd

from anomalert.events import Event

__all__ = [
    "ScoreLine",
    "event_color",
    "fleet",
    "scores",
    "series",
    "status_codes",
    "unit",
]

#: Where a figure goes: a file path, or a binary stream (a report embeds the bytes).
Target = TypeVar("Target", Path, IO[bytes])

#: One colour per event type, the same in every figure (none of them the alert/incident
#: red, green or orange, nor the series blue); other types take one by a hash of the name.
EVENT_COLORS = {"spike": "#17becf", "drop": "#bcbd22", "level_shift": "#393b79",
                "4xx_spike": "#9467bd", "5xx_spike": "#e377c2", "traffic_spike": "#8c564b"}
_SPARE_COLORS = ("#17becf", "#bcbd22", "#393b79", "#9467bd", "#e377c2", "#8c564b", "#7b4173",
                 "#637939")
DETECTOR_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f")
TRUE_COLOR, FALSE_COLOR, TRAIN_COLOR = "#2ca02c", "#d62728", "#bbbbbb"
#: Alerts and incidents where there are no labels to call them true or false.
INCIDENT_COLOR = "#ff7f0e"


def event_color(kind: str) -> str:
    """The colour of an event type, the same in every figure of a report."""
    if kind in EVENT_COLORS:
        return EVENT_COLORS[kind]
    return _SPARE_COLORS[zlib.crc32(kind.encode()) % len(_SPARE_COLORS)]


def unit(metric: str) -> str:
    """Display unit of a metric or feature name (rates are fractions, as stored); a
    Prometheus series' unit is its metric name's (``cpu_usage{instance="a"}``: %).

    >>> unit('cpu_usage{instance="web-1"}'), unit("queue_depth")
    ('%', 'value')
    """
    metric = metric.split("{", 1)[0] or metric
    if metric.endswith("_rate"):
        return "fraction"
    if metric in ("cpu_usage", "memory_usage"):
        return "%"
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith("_count") or metric in ("total_requests", "errors_per_minute"):
        return "requests/min"
    return "value"


def metric_label(ax: Any, name: str, *, inline: bool = False, title: bool = True) -> None:
    """Name a panel's metric and unit on its y axis; a long name (a Prometheus label set)
    goes above the panel instead (``title``; else it is left to the panel's own title),
    where it is not cut off. An unknown unit is not shown. ``inline``: name and unit on one
    line."""
    u = unit(name)
    shown = f"[{u}]" if u != "value" else ("value" if len(name) > 24 else "")
    if len(name) > 24:
        if title:
            ax.set_title(name, fontsize=9, loc="left")
        ax.set_ylabel(shown, fontsize=9)
    else:
        ax.set_ylabel(f"{name}{' ' if inline else chr(10)}{shown}".strip(), fontsize=9)


def _figure(rows: int, cols: int = 1, *, width: float = 12.0, height: float = 2.6,
            sharex: bool = True, ratios: Sequence[float] | None = None
            ) -> tuple[Any, np.ndarray]:
    """A figure of ``rows`` x ``cols`` axes, ``height`` inches a row (``ratios``: relative row
    heights, the figure as tall as their sum)."""
    from matplotlib.figure import Figure

    total = sum(ratios) if ratios is not None else rows
    fig = Figure(figsize=(width, max(2.5, height * total)), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False,
                        height_ratios=list(ratios) if ratios is not None else None)
    return fig, axes


def _save(fig: Any, path: Target, title: str) -> Target:
    """Title the figure and write it: a file in the format its extension names (PNG, SVG,
    PDF, JPEG; PNG without one), a stream as PNG."""
    fig.suptitle(title, fontsize=13, fontweight="bold")
    kind = path.suffix.lower().lstrip(".") if isinstance(path, Path) else ""
    fig.savefig(path, dpi=100, format=kind or "png")
    return path


def _naive(index: Any) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(index)
    return idx.tz_convert("UTC").tz_localize(None) if idx.tz is not None else idx


def _ts(t: pd.Timestamp) -> pd.Timestamp:
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo is not None else t


def _time_axis(ax: Any, label: bool = True) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if label:
        ax.set_xlabel("time (UTC)")


def _shade(ax: Any, events: Sequence[Event], *, train: tuple[Any, Any] | None = None,
           legend: dict[str, Any] | None = None) -> None:
    lo, hi = ax.get_xlim()  # date units: days; keep short events visible at any zoom
    least = pd.Timedelta(days=(hi - lo) / 250) if hi > lo else pd.Timedelta("1min")
    for e in events:
        color = event_color(e.kind)
        start, end = _ts(e.start), _ts(e.end) + pd.Timedelta("1min")
        if end - start < least:
            start, end = start - (least - (end - start)) / 2, start + (least + (end - start)) / 2
        span = ax.axvspan(start, end, color=color, alpha=0.3, lw=0)
        if legend is not None:
            legend.setdefault(f"true event: {e.kind}", span)
    if train is not None:
        span = ax.axvspan(_ts(train[0]), _ts(train[1]), color=TRAIN_COLOR, alpha=0.25, lw=0)
        if legend is not None:
            legend.setdefault("training window", span)


@dataclass(frozen=True)
class ScoreLine:
    """One detector's scores for a score panel, in score units."""

    score: pd.Series
    #: The threshold it pages at (``--threshold``, else the detector's own ``threshold_``).
    threshold: float
    #: The detector's own ``threshold_`` when it pages at another one (it still learns at it).
    own: float | None = None
    #: Its training rows' first and last time, shaded grey.
    train: tuple[Any, Any] | None = None


def _score_axis(ax: Any, name: str, line: ScoreLine, color: str, events: Sequence[Event]) -> None:
    """A score panel: the score, its paging threshold (and its own, when they differ)."""
    s = line.score.to_numpy(dtype=float)
    ax.plot(_naive(line.score.index), s, lw=0.6, color=color, label="score")
    thr = line.threshold
    paging = line.own is not None and line.own != thr
    ax.axhline(thr, color="black", ls="--", lw=1.2,
               label=f"{'paging ' if paging else ''}threshold {thr:.3g}")
    if paging and line.own is not None:
        ax.axhline(line.own, color="#555555", ls=":", lw=1.2,
                   label=f"detector's own threshold {line.own:.3g} (what it learns at)")
    _shade(ax, events, train=line.train)
    finite = s[np.isfinite(s)]
    low = min(thr, line.own if paging and line.own is not None else thr)
    if finite.size and finite.min() >= 0 and finite.max() > 20 * max(thr, 1e-9) and low > 0:
        ax.set_yscale("log", nonpositive="clip")  # a spike at 100x the threshold hides the rest
        positive = finite[finite > 0]
        ax.set_ylim(bottom=max(low / 30, float(np.min(positive))) if positive.size else low / 30)
        ax.set_ylabel(f"{name}\nscore (log)", fontsize=9)
    else:
        ax.set_ylabel(f"{name}\nscore", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)


def _line(ax: Any, values: pd.Series, **kwargs: Any) -> None:
    """Plot a series over time; missing values are skipped, gaps over 3 steps stay gaps."""
    v = values.dropna()
    x = _naive(v.index)
    y = v.to_numpy(dtype=float)
    if len(x) > 2:
        gaps = np.diff(x.asi8)
        jump = np.flatnonzero(gaps > 3 * np.median(gaps)) + 1
        if jump.size:  # a NaN at each gap breaks the line there
            x = pd.DatetimeIndex(np.insert(x.to_numpy(), jump, x[jump - 1].to_numpy()))
            y = np.insert(y, jump, np.nan)
    ax.plot(x, y, **kwargs)


def _alert_style(inside: np.ndarray | None) -> list[tuple[np.ndarray | None, str, str]]:
    """(mask, colour, label) per kind of alert: inside / outside a labelled event, or one kind
    where there are no labels."""
    if inside is None:
        return [(None, INCIDENT_COLOR, "alert")]
    return [(inside, TRUE_COLOR, "alert inside a true event"),
            (~inside, FALSE_COLOR, "alert outside every event")]


def series(path: Target, frame: pd.DataFrame, metrics: Sequence[str], events: Sequence[Event],
           train: tuple[Any, Any] | None,
           alerts: Mapping[str, tuple[pd.DatetimeIndex, np.ndarray | None]],
           title: str, incidents: Mapping[str, Sequence[tuple[Any, Any, bool | None]]] | None = None,
           *, scores: Mapping[str, ScoreLine] | None = None,
           marks: Mapping[str, tuple[pd.DatetimeIndex, np.ndarray | None]] | None = None
           ) -> Target:
    """Metric panels with true events and the training window shaded, plus one alert strip.

    ``alerts`` maps a detector label to (alert times, is-inside-a-true-event flags, or None
    without labels); ``incidents`` to its incidents as the Monitor opened them, (first alert,
    last alert, is-false or None), drawn as bars under its alerts. ``scores`` adds a score
    panel per detector above the strip; ``marks`` maps a metric to alert times (and flags)
    drawn as dots on its panel.
    """
    score_rows = list((scores or {}).items())
    strip_height = min(1.0, 0.35 + 0.22 * len(alerts))  # a short strip for one detector
    fig, axes = _figure(len(metrics) + len(score_rows) + 1, height=2.1,
                        ratios=[1.0] * (len(metrics) + len(score_rows)) + [strip_height])
    handles: dict[str, Any] = {}
    for ax, name in zip(axes[:, 0], metrics, strict=False):
        _line(ax, frame[name], lw=0.6, color="#1f77b4")
        _shade(ax, events, train=train, legend=handles)
        for times, inside in [(marks or {})[name]] if name in (marks or {}) else []:
            y = frame[name].reindex(times).to_numpy(dtype=float)
            for mask, color, label in _alert_style(inside):
                m = np.ones(len(times), dtype=bool) if mask is None else mask
                if m.any():
                    handles.setdefault(f"{label} (dot: on a metric its incident names)",
                                       ax.scatter(_naive(times[m]), y[m], s=10, color=color,
                                                  zorder=3, lw=0))
        metric_label(ax, name)
        ax.grid(alpha=0.3)
    for k, (name, line) in enumerate(score_rows):
        _score_axis(axes[len(metrics) + k, 0], name, line, DETECTOR_COLORS[k % 4], events)
    strip = axes[-1, 0]
    names = list(alerts)
    for row, name in enumerate(names):
        times, inside = alerts[name]
        t = _naive(times)
        for mask, color, label in _alert_style(inside):
            m = np.ones(len(t), dtype=bool) if mask is None else mask
            if m.any():
                handles.setdefault(label, strip.scatter(t[m], np.full(m.sum(), row),
                                                        marker="|", s=90, color=color, lw=1))
    _shade(strip, events)
    lo, hi = strip.get_xlim()
    least = pd.Timedelta(days=(hi - lo) / 400) if hi > lo else pd.Timedelta("1min")
    ticks = []
    for row, name in enumerate(names):
        spans = list((incidents or {}).get(name, []))
        for start, end, false in spans:
            start, end = _ts(start), max(_ts(end) + pd.Timedelta("1min"), _ts(start) + least)
            label, color = (("incident (bar: first to last alert)", INCIDENT_COLOR)
                            if false is None else
                            ("false incident (bar: first to last alert)", FALSE_COLOR) if false
                            else ("true incident", TRUE_COLOR))
            handles.setdefault(label, strip.hlines(row - 0.33, start, end, lw=5, color=color))
        ticks.append(f"{name}\n{len(spans)} incident(s)" if incidents is not None else name)
    strip.set_yticks(range(len(names)), ticks, fontsize=8)
    strip.set_ylim(-0.6, len(names) - 0.4)
    strip.set_ylabel("alerts")
    _time_axis(strip)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=min(4 if marks else 5, len(handles)), fontsize=9)
    return _save(fig, path, title)


def scores(path: Target, items: Mapping[str, tuple[pd.Series, float]], events: Sequence[Event],
           trains: Mapping[str, tuple[Any, Any]], title: str) -> Target:
    """Score over time per detector with its threshold line (``threshold_``, score units)."""
    fig, axes = _figure(len(items), height=2.3)
    for k, (ax, (name, (score, thr))) in enumerate(zip(axes[:, 0], items.items(), strict=True)):
        _score_axis(ax, name, ScoreLine(score, thr, train=trains.get(name)),
                    DETECTOR_COLORS[k % 4], events)
    _time_axis(axes[-1, 0])
    return _save(fig, path, title)


def status_codes(path: Target, frame: pd.DataFrame, events: Sequence[Event], title: str) -> Target:
    """Requests per minute by status class, events shaded: all classes stacked, and below,
    the error classes alone on their own scale (a few percent of the traffic, invisible in
    the stack)."""
    cols = [c for c in ("2xx_count", "3xx_count", "4xx_count", "5xx_count") if c in frame]
    errors = [c for c in ("4xx_count", "5xx_count") if c in frame]
    colors = {"2xx_count": "#2ca02c", "3xx_count": "#17becf", "4xx_count": "#ff7f0e",
              "5xx_count": "#d62728"}
    fig, axes = _figure(2 if errors else 1, height=2.6)
    x = _naive(frame.index)
    ax = axes[0, 0]
    ax.stackplot(x, *[frame[c].to_numpy() for c in cols],
                 labels=[c.replace("_count", "") for c in cols],
                 colors=[colors[c] for c in cols], alpha=0.85, lw=0)
    handles: dict[str, Any] = {}
    _shade(ax, events, legend=handles)
    ax.set_ylabel("requests per minute\n(stacked)", fontsize=9)
    ax.grid(alpha=0.3)
    h, labels = ax.get_legend_handles_labels()
    if errors:
        low = axes[1, 0]
        for c in errors:
            low.plot(x, frame[c].to_numpy(), lw=0.7, color=colors[c],
                     label=f"{c.replace('_count', '')} only")
        _shade(low, events)
        low.set_ylabel("error requests\nper minute", fontsize=9)
        low.grid(alpha=0.3)
        eh, el = low.get_legend_handles_labels()
        h, labels = h + eh, labels + el
    fig.legend(h + list(handles.values()), labels + list(handles), loc="outside lower center",
               ncol=min(6, len(h) + len(handles)), fontsize=8)
    _time_axis(axes[-1, 0])
    return _save(fig, path, title)


@dataclass(frozen=True)
class SeriesPanel:
    """One series of many, for :func:`fleet`: the metric its incidents name most."""

    series: str
    metric: str
    values: pd.Series
    alerts: pd.DatetimeIndex
    incidents: Sequence[tuple[Any, Any]]  # first and last alert of each
    train: tuple[Any, Any] | None
    note: str  # e.g. "3 incident(s), max score 24.5"


def fleet(path: Target, panels: Sequence[SeriesPanel], title: str) -> Target:
    """The worst series of many, one panel each: the metric, its alerts as dots, its incidents
    shaded (first to last alert), its training window grey."""
    starts = [p.values.index.min() for p in panels]
    ends = [p.values.index.max() for p in panels]
    shared = bool(panels) and max(starts) < min(ends)  # one time axis when they overlap
    fig, axes = _figure(max(len(panels), 1), height=1.9 if shared else 2.4, sharex=shared)
    handles: dict[str, Any] = {}
    for ax, p in zip(axes[:, 0], panels, strict=False):
        _line(ax, p.values, lw=0.6, color="#1f77b4")
        _shade(ax, [], train=p.train, legend=handles)
        lo, hi = ax.get_xlim()  # days: keep a short incident visible at any zoom
        least = pd.Timedelta(days=(hi - lo) / 300) if hi > lo else pd.Timedelta("1min")
        for start, end in p.incidents:
            start, end = _ts(start), max(_ts(end) + pd.Timedelta("1min"), _ts(start) + least)
            handles.setdefault("incident (first to last alert)", ax.axvspan(
                start, end, color=INCIDENT_COLOR, alpha=0.35, lw=0))
        y = p.values.reindex(p.alerts).to_numpy(dtype=float)
        if len(p.alerts):
            handles.setdefault("alert", ax.scatter(_naive(p.alerts), y, s=10, zorder=3, lw=0,
                                                   color=FALSE_COLOR))
        ax.set_title(f"{p.series}: {p.note}", fontsize=9, loc="left")
        u = unit(p.metric if p.metric != "value" else p.series)
        ax.set_ylabel(p.metric + (f"\n[{u}]" if u != "value" else ""), fontsize=9)
        ax.grid(alpha=0.3)
        if not shared:
            _time_axis(ax)
    if shared:
        _time_axis(axes[-1, 0])
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no series had an incident", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncol=len(handles), fontsize=9)
    return _save(fig, path, title)
