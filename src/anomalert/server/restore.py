"""Series restored from the state file meet the current configuration.

A series' state is pickled with its :class:`~anomalert.monitor.Monitor`, so without this a
restart would keep the policy and labels the series was created with, whatever the config says
now. At start-up:

- the policy and labels (``severity`` included) of the current config apply to every restored
  series: each query's to its series (:func:`reconfigure_watched`), ``defaults`` to pushed ones
  (:func:`reconfigure_pushed`). The detector keeps what it learned. Each change is logged once
  per query. An alert already firing keeps the labels it fired with until it resolves (its
  resolution must match it in Alertmanager); the next incident gets the new ones.
- a different detector, parameters or metrics cannot be applied to a learned state. A query's
  series are then refit on its lookback by the watch loop, as at a first start (incidents and
  open alerts kept); pushed series have no history to refit on, so they keep their detector and
  a warning says so (the configured one applies to new pushed series).
- series of a query no longer configured are marked stale: their open alerts resolve now.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.detectors import make
from anomalert.server.labels import query_labels

if TYPE_CHECKING:
    from anomalert.server.config import QuerySpec
    from anomalert.server.runtime import SeriesRuntime, ServiceState

__all__ = ["reconfigure", "reconfigure_pushed", "reconfigure_watched", "same_detector"]

log = logging.getLogger("anomalert.server.restore")


def same_detector(det: Any, wanted: Any) -> bool:
    """Whether a (restored) detector is of the class and parameters of ``wanted``.

    >>> same_detector(make("zscore"), make("zscore")), same_detector(make("zscore"), make("default"))
    (True, False)
    """
    if type(det) is not type(wanted):
        return False
    missing = object()
    return all(getattr(det, k, missing) == v for k, v in wanted.get_params().items())


def reconfigure(rt: SeriesRuntime, policy: AlertPolicy, labels: dict[str, str]) -> list[str]:
    """Apply ``policy`` and ``labels`` to the restored ``rt``; what changed, e.g.
    ``["threshold None -> 4.0"]``."""
    old = rt.monitor.policy
    changes = [
        f"{f.name} {getattr(old, f.name)!r} -> {getattr(policy, f.name)!r}"
        for f in fields(policy) if getattr(old, f.name) != getattr(policy, f.name)
    ]
    if changes:
        rt.monitor.set_policy(policy)
    if labels != rt.labels:
        changes.append(f"labels {rt.labels} -> {labels}")
        rt.labels = dict(labels)
    return changes


def _count(changes: dict[str, int], found: list[str]) -> None:
    for change in found:
        changes[change] = changes.get(change, 0) + 1


def reconfigure_watched(state: ServiceState, specs: Mapping[str, QuerySpec]) -> set[str]:
    """Give the restored watched series of ``state`` their query's policy and labels, mark
    stale those of queries not in ``specs``; returns the queries whose series must be refit
    (detector, parameters or metrics changed)."""

    changes: dict[str, dict[str, int]] = {}
    refit: set[str] = set()
    orphans: dict[str, list[SeriesRuntime]] = {}
    for rt in list(state.series.values()):
        if rt.kind != "watch":
            continue
        spec = specs.get(rt.group or "")
        if spec is None:
            orphans.setdefault(str(rt.group), []).append(rt)
            continue
        labels = query_labels(rt.name[len(spec.name):], spec.labels)
        _count(changes.setdefault(spec.name, {}), reconfigure(rt, spec.policy, labels))
        det = rt.monitor.detector
        if (det.is_fitted and list(rt.columns) != spec.columns) or not same_detector(
            det, make(spec.detector, **spec.params)
        ):
            refit.add(spec.name)
    for query, per_query in changes.items():
        for change, count in per_query.items():
            log.warning("%s: configuration changed since the state was saved: %s; applied "
                        "to %d restored series", query, change, count)
    for query in sorted(refit):
        _note(state, f"{query}: detector, parameters or metrics changed since the state was "
              f"saved; its restored series are refit on the last {specs[query].lookback} "
              "(incidents and open alerts kept)")
    for query, runtimes in orphans.items():
        resolved = sum(len(state.mark_stale(rt, pd.Timedelta(0))) for rt in runtimes)
        _note(state, f"query {query!r} is no longer configured: its {len(runtimes)} restored "
              "series are not polled (stale)"
              + (f", {resolved} open alert(s) resolved" if resolved else ""))
    return refit


def reconfigure_pushed(state: ServiceState) -> None:
    """Give the restored pushed series of ``state`` its policy and labels for pushed series
    (the config's ``defaults``); a different detector is kept, with a warning."""
    changes: dict[str, int] = {}
    kept: list[str] = []
    wanted = make(state.detector, **state.detector_params)
    for rt in list(state.series.values()):
        if rt.kind != "push":
            continue
        _count(changes, reconfigure(rt, state.policy, state.push_labels))
        if not same_detector(rt.monitor.detector, wanted):
            kept.append(rt.name)
    for change, count in changes.items():
        log.warning("configuration changed since the state was saved: %s, applied to %d "
                    "restored pushed series", change, count)
    if kept:
        _note(state, f"{len(kept)} restored pushed series ({', '.join(kept[:5])}"
              f"{', ...' if len(kept) > 5 else ''}) keep the detector they learned; the configured "
              f"detector {state.detector!r} {state.detector_params or ''} applies to new pushed "
              "series (push to a new name, or move the state file away, to use it)")


def _note(state: ServiceState, message: str) -> None:
    log.warning("%s", message)
    state.notes.append(message)
