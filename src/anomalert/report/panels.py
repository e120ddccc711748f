"""Per-incident panels: the feature that drove an incident against its baseline and band.

One :class:`Panel` per incident (its top feature at the peak, from the detector's own
explanations), drawn side by side by :func:`incident_panels`. The demo draws them for each
detector, ``anomalert detect --report`` for the incidents with the highest peaks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from anomalert.events import Event
from anomalert.report.figures import (
    FALSE_COLOR,
    INCIDENT_COLOR,
    Target,
    _figure,
    _naive,
    _save,
    _shade,
    _time_axis,
    _ts,
    metric_label,
)

if TYPE_CHECKING:
    from anomalert.alerting import Incident
    from anomalert.detection import Detection
    from anomalert.detectors import Contribution

__all__ = ["Panel", "incident_panels", "incident_window", "panels_for"]


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
    #: True / False against the labels; None when there are no labels.
    is_false: bool | None = False
    #: A feature scored on its log: the scale as a factor (NaN where the scale is additive);
    #: the band is then ``baseline */ factor ** band``.
    factor: pd.Series | None = None


def incident_window(index: pd.DatetimeIndex, inc: Incident) -> np.ndarray:
    """Rows shown around an incident: its span plus max(30 min, its duration) each side."""
    pad = max(pd.Timedelta("30min"), inc.end - inc.start)
    return np.asarray((index >= inc.start - pad) & (index <= inc.end + pad))


def panels_for(d: Detection, chosen: Sequence[tuple[Incident, bool | None]],
               exps: Mapping[int, Any], frame: pd.DataFrame, events: Sequence[Event],
               cut: pd.Timestamp | None) -> list[Panel]:
    """One :class:`Panel` per chosen (incident, is_false) pair: its top feature at the peak.

    ``exps`` maps row positions to the detector's explanations (at least the peak and the
    window around each incident); baseline and scale come from them. ``is_false`` is None
    without labels; ``cut`` is the end of the training window (None: fitted on every row).
    """
    from anomalert.detectors import IForest
    from anomalert.features import transform_frame

    index = pd.DatetimeIndex(frame.index)
    feats = transform_frame(frame[list(d.detector.columns_)], d.detector.feature_set)
    static = isinstance(d.detector, IForest)
    # the threshold it paged at (--threshold, AlertPolicy(threshold=...)), else its own
    thr = float(d.points["threshold"].iloc[0]) if len(d.points) else float(d.detector.threshold_)
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
        where = "after training" if cut is not None and inc.start >= cut else "in training window"
        verdict = "" if false is None else "FALSE " if false else "true "
        end_format = "%H:%M" if inc.end.date() == inc.start.date() else "%m-%d %H:%M"
        lo, hi = index[win[0]], index[win[-1]]
        panels.append(Panel(
            f"#{inc.id} {verdict}incident {inc.start:%m-%d %H:%M}–"
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


def incident_panels(path: Target, panels: Sequence[Panel], title: str) -> Target:
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
                   color=FALSE_COLOR if p.is_false else INCIDENT_COLOR, alpha=0.9, lw=0,
                   label="false incident" if p.is_false else "incident")
        for label, h in handles.items():
            h.set_label(label)
        ax.set_title(p.heading, fontsize=9, color=FALSE_COLOR if p.is_false else "black")
        metric_label(ax, p.feature, inline=True, title=False)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        _time_axis(ax)
    return _save(fig, path, title)

