"""The evaluation figures: score distributions, confusion matrices, per-feature attribution
at alerts, and the contamination / threshold sweeps (time series figures are in
:mod:`anomalert.report.figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from anomalert.report.figures import (
    DETECTOR_COLORS,
    FALSE_COLOR,
    TRUE_COLOR,
    Target,
    _figure,
    _save,
)

__all__ = ["attribution", "confusion", "distributions", "longest_note", "sweep_curves",
           "sweep_note"]


def distributions(path: Target, items: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
                  title: str) -> Target:
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


def confusion(path: Target, items: Mapping[str, Mapping[str, int]], title: str) -> Target:
    """One confusion matrix per detector (counts and row shares)."""
    fig, axes = _figure(1, len(items), width=min(12.0, 1.0 + 4.2 * len(items)), height=3.4,
                        sharex=False)
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


def attribution(path: Target, items: Mapping[str, tuple[pd.DataFrame, str]], title: str) -> Target:
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


def sweep_note(r: Mapping[str, Any]) -> str:
    """``"1/1 ev, 3.3 false/day"`` (and the longest incident when long) for a sweep point."""
    return (f"{r['events_detected']}/{r['events_total']} ev, "
            f"{r['false_incidents_per_day']:.1f} false/day" + longest_note(r))


def sweep_curves(path: Target, contamination: Sequence[Mapping[str, Any]], preset: str,
                 default: Mapping[str, Any], thresholds: Sequence[Mapping[str, Any]],
                 title: str) -> Target:
    """The contamination sweep against ``default``'s label-free threshold.

    Left: flagged share of the training window and held-out false-positive rate against
    contamination (log-log, with the line ``y = x``). Middle: minutes a day alerting outside
    the labelled events, with events detected and false incidents a day written at each point.
    Right: ``default``'s threshold sweep, the same way.
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
    # the time alerting outside the events, not the count of false incidents: a higher
    # contamination merges alerts into long incidents over an event that count as true
    out = np.array([r["false_alert_min_per_day"] for r in contamination])
    ax.plot(c, out, "o-", label=f"{preset}")
    for x, y, r in zip(c, out, contamination, strict=True):
        ax.annotate(sweep_note(r), (x, y), fontsize=7, textcoords="offset points",
                    xytext=(0, 6), ha="center")
    ax.axhline(default["false_alert_min_per_day"], color=DETECTOR_COLORS[2], ls="--",
               label=f"default: {default['false_alert_min_per_day']:.0f} min/day, "
               f"{default['events_detected']}/{default['events_total']} events")
    ax.set_xscale("log")
    top = max(1.0, 1.2 * float(max(out.max(), default["false_alert_min_per_day"])))
    ax.set_ylim(-0.03 * top, top)
    ax.set_xlabel("contamination")
    ax.set_ylabel("minutes a day alerting outside the events")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    if thresholds:
        ax = axes[0, 2]
        rows = sorted([*thresholds, default], key=lambda r: r["threshold"])
        t = [r["threshold"] for r in rows]
        ax.plot(t, [r["false_alert_min_per_day"] for r in rows], "o-",
                color=DETECTOR_COLORS[2], label="minutes a day alerting outside the events")
        for r in rows:
            ax.annotate(sweep_note(r), (r["threshold"], r["false_alert_min_per_day"]),
                        fontsize=7, textcoords="offset points", xytext=(0, 6), ha="center")
        ax.axvline(default["threshold"], color="black", ls="--",
                   label=f"label-free threshold {default['threshold']:.2f}")
        top = max(1.0, 1.2 * max(r["false_alert_min_per_day"] for r in rows))
        ax.set_ylim(-0.03 * top, top)  # points at 0 stay whole
        ax.set_xlabel("default threshold (robust z, σ)")
        ax.set_ylabel("minutes a day alerting outside the events")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _save(fig, path, title)
