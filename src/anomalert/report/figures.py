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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from anomalert.data import Event

if TYPE_CHECKING:
    from anomalert.alerting import Incident
    from anomalert.detectors import Contribution
    from anomalert.monitor import Detection

__all__ = [
    "Panel",
    "attribution",
    "confusion",
    "distributions",
    "event_color",
    "incident_panels",
    "incident_window",
    "longest_note",
    "panels_for",
    "scores",
    "series",
    "status_codes",
    "sweep_curves",
    "unit",
]

#: One colour per event type, the same in every figure (none of them the alert/incident
#: red, green or orange, nor the series blue); other types take one by a hash of the name.
EVENT_COLORS = {"spike": "#17becf", "drop": "#bcbd22", "level_shift": "#393b79",
                "4xx_spike": "#9467bd", "5xx_spike": "#e377c2", "traffic_spike": "#8c564b"}
_SPARE_COLORS = ("#17becf", "#bcbd22", "#393b79", "#9467bd", "#e377c2", "#8c564b", "#7b4173",
                 "#637939")
DETECTOR_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f")
TRUE_COLOR, FALSE_COLOR, TRAIN_COLOR = "#2ca02c", "#d62728", "#bbbbbb"


def event_color(kind: str) -> str:
    """The colour of an event type, the same in every figure of a report."""
    if kind in EVENT_COLORS:
        return EVENT_COLORS[kind]
    return _SPARE_COLORS[zlib.crc32(kind.encode()) % len(_SPARE_COLORS)]


def unit(metric: str) -> str:
    """Display unit of a metric or feature name (rates are fractions, as stored)."""
    if metric.endswith("_rate"):
        return "fraction"
    if metric in ("cpu_usage", "memory_usage"):
        return "%"
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith("_count") or metric in ("total_requests", "errors_per_minute"):
        return "requests/min"
    return "value"


def _figure(rows: int, cols: int = 1, *, width: float = 12.0, height: float = 2.6,
            sharex: bool = True) -> tuple[Any, np.ndarray]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, max(2.5, height * rows)), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False)
    return fig, axes


def _save(fig: Any, path: Path, title: str) -> Path:
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.savefig(path, dpi=100, format="png")
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


def series(path: Path, frame: pd.DataFrame, metrics: Sequence[str], events: Sequence[Event],
           train: tuple[Any, Any], alerts: Mapping[str, tuple[pd.DatetimeIndex, np.ndarray]],
           title: str, incidents: Mapping[str, Sequence[tuple[Any, Any, bool]]] | None = None
           ) -> Path:
    """Metric panels with true events and the training window shaded, plus one alert strip.

    ``alerts`` maps a detector label to (alert times, is-inside-a-true-event flags);
    ``incidents`` to its incidents as the Monitor opened them, (first alert, last alert,
    is-false), drawn as bars under its alerts.
    """
    fig, axes = _figure(len(metrics) + 1, height=2.1)
    x = _naive(frame.index)
    handles: dict[str, Any] = {}
    for ax, name in zip(axes[:, 0], metrics, strict=False):
        ax.plot(x, frame[name].to_numpy(), lw=0.6, color="#1f77b4")
        _shade(ax, events, train=train, legend=handles)
        ax.set_ylabel(f"{name}\n[{unit(name)}]", fontsize=9)
        ax.grid(alpha=0.3)
    strip = axes[-1, 0]
    names = list(alerts)
    for row, name in enumerate(names):
        times, true = alerts[name]
        t = _naive(times)
        for mask, color, label in ((true, TRUE_COLOR, "alert inside a true event"),
                                   (~true, FALSE_COLOR, "alert outside every event")):
            if mask.any():
                handles.setdefault(label, strip.scatter(t[mask], np.full(mask.sum(), row),
                                                        marker="|", s=90, color=color, lw=1))
    _shade(strip, events)
    lo, hi = strip.get_xlim()
    least = pd.Timedelta(days=(hi - lo) / 400) if hi > lo else pd.Timedelta("1min")
    ticks = []
    for row, name in enumerate(names):
        spans = list((incidents or {}).get(name, []))
        for start, end, false in spans:
            start, end = _ts(start), max(_ts(end) + pd.Timedelta("1min"), _ts(start) + least)
            label = "false incident (bar: first to last alert)" if false else "true incident"
            handles.setdefault(label, strip.hlines(row - 0.33, start, end, lw=5,
                                                   color=FALSE_COLOR if false else TRUE_COLOR))
        ticks.append(f"{name}\n{len(spans)} incident(s)" if incidents is not None else name)
    strip.set_yticks(range(len(names)), ticks, fontsize=8)
    strip.set_ylim(-0.6, len(names) - 0.4)
    strip.set_ylabel("alerts")
    _time_axis(strip)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=min(5, len(handles)), fontsize=9)
    return _save(fig, path, title)


def scores(path: Path, items: Mapping[str, tuple[pd.Series, float]], events: Sequence[Event],
           trains: Mapping[str, tuple[Any, Any]], title: str) -> Path:
    """Score over time per detector with its threshold line (``threshold_``, score units)."""
    fig, axes = _figure(len(items), height=2.3)
    for k, (ax, (name, (score, thr))) in enumerate(zip(axes[:, 0], items.items(), strict=True)):
        s = score.to_numpy(dtype=float)
        ax.plot(_naive(score.index), s, lw=0.6, color=DETECTOR_COLORS[k % 4])
        ax.axhline(thr, color="black", ls="--", lw=1.2, label=f"threshold {thr:.3g}")
        _shade(ax, events, train=trains.get(name))
        finite = s[np.isfinite(s)]
        if finite.size and finite.min() >= 0 and finite.max() > 20 * max(thr, 1e-9):
            ax.set_yscale("log", nonpositive="clip")
            ax.set_ylim(bottom=max(thr / 30, float(np.min(finite[finite > 0]))))
        ax.set_ylabel(f"{name}\nscore", fontsize=9)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    _time_axis(axes[-1, 0])
    return _save(fig, path, title)


def distributions(path: Path, items: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
                  title: str) -> Path:
    """Per detector, score histograms of normal and anomalous rows, log-scale counts."""
    fig, axes = _figure(1, len(items), width=12, height=3.6, sharex=False)
    for ax, (name, (s, truth, thr)) in zip(axes[0], items.items(), strict=True):
        ok = np.isfinite(s)
        s, truth = s[ok], truth[ok].astype(bool)
        lo, hi = (float(s.min()), float(s.max())) if s.size else (0.0, 1.0)
        logx = lo > 0 and hi / lo > 50
        bins = np.geomspace(lo, hi, 50) if logx else np.linspace(lo, max(hi, lo + 1e-9), 50)
        for mask, color, label in ((~truth, "#1f77b4", "normal"), (truth, FALSE_COLOR,
                                                                   "labelled anomaly")):
            ax.hist(s[mask], bins=bins, color=color, alpha=0.6, histtype="stepfilled",
                    label=f"{label} (n={mask.sum()})")
        ax.axvline(thr, color="black", ls="--", lw=1.2, label=f"threshold {thr:.3g}")
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("anomaly score")
        ax.set_ylabel("rows (log scale)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path, title)


def confusion(path: Path, items: Mapping[str, Mapping[str, int]], title: str) -> Path:
    """One confusion matrix per detector (counts and row shares)."""
    fig, axes = _figure(1, len(items), width=12, height=3.4, sharex=False)
    for ax, (name, p) in zip(axes[0], items.items(), strict=True):
        m = np.array([[p["tn"], p["fp"]], [p["fn"], p["tp"]]], dtype=float)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(2):
            for j in range(2):
                ax.text(j, i, f"{int(m[i, j]):,}\n{share[i, j]:.1%}", ha="center", va="center",
                        color="white" if share[i, j] > 0.6 else "black", fontsize=10)
        ax.set_xticks([0, 1], ["normal", "alert"])
        ax.set_yticks([0, 1], ["normal", "anomaly"])
        ax.set_xlabel("predicted (rows)")
        ax.set_ylabel("labelled (rows)")
        ax.set_title(name, fontsize=10)
    return _save(fig, path, title)


def status_codes(path: Path, frame: pd.DataFrame, events: Sequence[Event], title: str) -> Path:
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


@dataclass
class Panel:
    """One incident, one feature: its values around the incident against the baseline."""

    heading: str
    feature: str
    values: pd.Series  # the feature around the incident
    baseline: pd.Series  # the explanation's baseline where known (NaN elsewhere)
    scale: pd.Series  # the explanation's scale (same index)
    band: float  # band half-width in scales (the threshold for z-scores, 1 otherwise)
    band_label: str
    incident: tuple[pd.Timestamp, pd.Timestamp]
    events: list[Event] = field(default_factory=list)
    is_false: bool = False
    #: A feature scored on its log: the scale as a factor (NaN where the scale is additive);
    #: the band is then ``baseline */ factor ** band``.
    factor: pd.Series | None = None


def incident_window(index: pd.DatetimeIndex, inc: Incident) -> np.ndarray:
    """Rows shown around an incident: its span plus max(30 min, its duration) each side."""
    pad = max(pd.Timedelta("30min"), inc.end - inc.start)
    return np.asarray((index >= inc.start - pad) & (index <= inc.end + pad))


def panels_for(d: Detection, chosen: Sequence[tuple[Incident, bool]], exps: Mapping[int, Any],
               frame: pd.DataFrame, events: Sequence[Event], cut: pd.Timestamp) -> list[Panel]:
    """One :class:`Panel` per chosen (incident, is_false) pair: its top feature at the peak.

    ``exps`` maps row positions to the detector's explanations (at least the peak and the
    window around each incident); baseline and scale come from them.
    """
    from anomalert.detectors import IForest
    from anomalert.features import transform_frame

    index = pd.DatetimeIndex(frame.index)
    feats = transform_frame(frame[list(d.detector.columns_)], d.detector.feature_set)
    static = isinstance(d.detector, IForest)
    thr = float(d.detector.threshold_)
    panels = []
    for inc, false in chosen:
        peak = int(index.get_indexer([inc.peak_time])[0])
        top = exps[peak].top if peak in exps else None
        if top is None:
            continue
        win = np.flatnonzero(incident_window(index, inc))
        base, scale = np.full(win.size, np.nan), np.full(win.size, np.nan)
        factor = np.full(win.size, np.nan)
        for k, i in enumerate(win):
            c = next((c for c in exps[int(i)].contributions if c.metric == top.metric), None)
            if c is not None and c.kind == "level":  # a noise figure is no band on the values
                base[k], scale[k] = c.baseline, c.scale
                factor[k] = np.nan if c.factor is None else c.factor
            elif c is not None and c.kind in ("drift", "shift", "sustained"):  # the earlier
                # level, the edge of the week's window means or the averaged baseline, without
                # a band
                base[k], scale[k] = c.baseline, 0.0
        logged = bool(np.isfinite(factor).any())  # scored on its log: a multiplicative band
        where = "held out" if inc.start >= cut else "in training window"
        end_format = "%H:%M" if inc.end.date() == inc.start.date() else "%m-%d %H:%M"
        lo, hi = index[win[0]], index[win[-1]]
        panels.append(Panel(
            f"#{inc.id} {'FALSE' if false else 'true'} incident {inc.start:%m-%d %H:%M}–"
            f"{inc.end.strftime(end_format)} UTC ({where})\nat peak: {_peak_text(top)}",
            top.metric, feats[top.metric].iloc[win],
            pd.Series(base, index=index[win]), pd.Series(scale, index=index[win]),
            1.0 if static else thr,
            "training median ± 1 s.d." if static else (
                f"baseline ×/÷ spread^threshold ({thr:.2f}σ of its log)"
                if logged else f"baseline ± threshold ({thr:.2f}σ)"),
            (inc.start, inc.end), [e for e in events if e.overlaps(lo, hi)], false,
            pd.Series(factor, index=index[win]) if logged else None))
    return panels


def _peak_text(top: Contribution) -> str:
    """A panel title's account of the top contribution at an incident's peak."""
    if top.kind == "noise":
        ratio = top.value / top.baseline if top.baseline > 0 else float("inf")
        return f"{top.metric} noisy, {ratio:.1f}x {top.reference or 'its usual'}"
    if top.kind == "flat":
        return f"{top.metric} flat, {abs(top.deviation):.1f}x narrower than {top.reference}"
    if top.kind == "shift":
        return f"{top.metric} shifted, mean {top.deviation:+.1f}σ past {top.reference}"
    if top.kind == "sustained":
        way = "above" if top.deviation >= 0 else "below"
        return f"{top.metric} stayed {way} baseline ({top.deviation:+.1f}σ, averaged)"
    if top.kind == "drift":
        way = "up" if top.deviation >= 0 else "down"
        return f"{top.metric} drifting {way}, {abs(top.deviation):.1f}x its usual day-to-day change"
    if abs(top.deviation) < 0.05:  # "+0.0σ from baseline" says nothing
        return f"{top.metric} at {top.reference or 'baseline'}"
    return f"{top.metric} {top.deviation:+.1f}σ from {top.reference or 'baseline'}"


def incident_panels(path: Path, panels: Sequence[Panel], title: str) -> Path:
    """Per-incident panels: the feature that drove it against its baseline and band."""
    cols = 2 if len(panels) > 1 else 1
    rows = (len(panels) + cols - 1) // cols
    fig, axes = _figure(rows, cols, height=2.8, sharex=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, p in zip(axes.flat, panels, strict=False):
        x = _naive(p.values.index)
        ax.plot(x, p.values.to_numpy(), color="#1f77b4", lw=1, label=p.feature)
        base = p.baseline.to_numpy()
        band = p.band * p.scale.to_numpy()
        low, high = base - band, base + band
        if p.factor is not None:  # scored on its log: the band is a factor either way
            f = p.factor.to_numpy() ** p.band
            logged = np.isfinite(f)
            low[logged], high[logged] = base[logged] / f[logged], base[logged] * f[logged]
        ax.plot(x, base, color="black", ls="--", lw=1, label="baseline")
        ax.fill_between(x, low, high, color="#999999", alpha=0.25, lw=0, label=p.band_label)
        if p.factor is not None and bool((p.values > 0).all()):
            ax.set_yscale("log")  # a metric scored on its log, shown on one
        handles: dict[str, Any] = {}
        _shade(ax, p.events, legend=handles)
        ax.axvspan(_ts(p.incident[0]), _ts(p.incident[1]) + pd.Timedelta("1min"), ymin=0.93,
                   color=FALSE_COLOR if p.is_false else "#ff7f0e", alpha=0.9, lw=0,
                   label="false incident" if p.is_false else "incident")
        for label, h in handles.items():
            h.set_label(label)
        ax.set_title(p.heading, fontsize=9, color=FALSE_COLOR if p.is_false else "black")
        ax.set_ylabel(f"{p.feature} [{unit(p.feature)}]", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        _time_axis(ax)
    return _save(fig, path, title)


def attribution(path: Path, items: Mapping[str, tuple[pd.DataFrame, str]], title: str) -> Path:
    """Per detector, the mean per-feature contribution at alert time, true vs false alerts.

    Each frame has one row per feature and columns ``true`` / ``false`` (mean contribution
    over alerts inside / outside a true event); the string names the unit.
    """
    fig, axes = _figure(1, len(items), width=12, height=3.6, sharex=False)
    handles = []
    for ax, (name, (table, what)) in zip(axes[0], items.items(), strict=True):
        y = np.arange(len(table))
        for off, col, color in ((-0.2, "true", TRUE_COLOR), (0.2, "false", FALSE_COLOR)):
            label = "alerts inside a true event" if col == "true" else "false alerts"
            handles.append(ax.barh(y + off, table[col].fillna(0).to_numpy(), height=0.4,
                                   color=color, label=label))
        ax.set_yticks(y, list(table.index), fontsize=8)
        ax.set_ylim(-0.6, max(len(table), 3) - 0.4)
        ax.invert_yaxis()
        # a detector without alerts (or without false ones) has NaN means: not values
        shown = table[["true", "false"]].to_numpy(dtype=float)
        top = float(shown[np.isfinite(shown)].max(initial=0.0))
        if "σ" in what and top > 100:
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlim(left=0)
        ax.set_xlabel(what)
        counts = []
        for kind in ("true", "false"):
            n, of = table.attrs.get(f"n_{kind}", 0), table.attrs.get(f"of_{kind}", 0)
            counts.append(f"{n} of {of:,} {kind}" if of > n else f"{n} {kind}")
        ax.set_title(f"{name}\n{', '.join(counts)} alerts", fontsize=10)
        ax.axvline(0, color="black", lw=0.6)
        ax.grid(alpha=0.3, axis="x")
    fig.legend(handles[:2], [h.get_label() for h in handles[:2]], loc="outside lower center",
               ncol=2, fontsize=9)
    return _save(fig, path, title)


def longest_note(row: Mapping[str, Any]) -> str:
    """A sweep point's note of an incident held open for hours (one page, many alerts), so
    that few false incidents from a detector that alerts all the time do not read as good."""
    minutes = float(row.get("longest_incident_min") or 0.0)
    return f"\nlongest {minutes / 60:.0f} h" if minutes >= 120 else ""


def sweep_curves(path: Path, contamination: Sequence[Mapping[str, Any]], preset: str,
                 default: Mapping[str, Any], thresholds: Sequence[Mapping[str, Any]],
                 title: str) -> Path:
    """The contamination sweep against ``default``'s label-free threshold.

    Left: flagged share of the training window and held-out false-positive rate against
    contamination (log-log, with the line ``y = x``). Middle: false incidents per day, with
    events detected written at each point. Right: ``default``'s threshold sweep.
    """
    panels = 3 if thresholds else 2
    fig, axes = _figure(1, panels, width=13, height=4.0, sharex=False)
    c = np.array([r["value"] for r in contamination])
    ax = axes[0, 0]
    ax.plot(c, c, color="#999999", ls=":", label="y = contamination")
    ax.plot(c, [r["train_flagged"] for r in contamination], "o-",
            label=f"{preset}: flagged share of training window")
    ax.plot(c, [r["fpr"] for r in contamination], "s-",
            label=f"{preset}: false-positive rate ({contamination[0]['scope']})")
    ax.axhline(default["fpr"], color=DETECTOR_COLORS[2], ls="--",
               label=f"default: false-positive rate {default['fpr']:.3%}")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("contamination (expected anomaly share)")
    ax.set_ylabel("share of rows (linear below 0.001)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    ax = axes[0, 1]
    fi = np.array([r["false_incidents_per_day"] for r in contamination])
    ax.plot(c, fi, "o-", label=f"{preset}")
    for x, y, r in zip(c, fi, contamination, strict=True):
        ax.annotate(f"{r['events_detected']}/{r['events_total']} ev" + longest_note(r), (x, y),
                    fontsize=7,
                    textcoords="offset points", xytext=(0, 6), ha="center")
    ax.axhline(default["false_incidents_per_day"], color=DETECTOR_COLORS[2], ls="--",
               label=f"default: {default['false_incidents_per_day']:.2f}/day, "
               f"{default['events_detected']}/{default['events_total']} events")
    ax.set_xscale("log")
    top = max(1.0, 1.15 * float(max(fi.max(), default["false_incidents_per_day"])))
    ax.set_ylim(-0.03 * top, top)
    ax.set_xlabel("contamination")
    ax.set_ylabel("false incidents per day")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    if thresholds:
        ax = axes[0, 2]
        rows = sorted([*thresholds, default], key=lambda r: r["threshold"])
        t = [r["threshold"] for r in rows]
        ax.plot(t, [r["false_incidents_per_day"] for r in rows], "o-",
                color=DETECTOR_COLORS[2], label="false incidents per day")
        for r in rows:
            ax.annotate(f"{r['events_detected']}/{r['events_total']} ev" + longest_note(r),
                        (r["threshold"], r["false_incidents_per_day"]), fontsize=7,
                        textcoords="offset points", xytext=(0, 6), ha="center")
        ax.axvline(default["threshold"], color="black", ls="--",
                   label=f"label-free threshold {default['threshold']:.2f}")
        top = max(1.0, 1.15 * max(r["false_incidents_per_day"] for r in rows))
        ax.set_ylim(-0.03 * top, top)  # points at 0 stay whole
        ax.set_xlabel("default threshold (robust z, σ)")
        ax.set_ylabel("false incidents per day")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _save(fig, path, title)
