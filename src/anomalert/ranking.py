"""The worst series of a fleet: one ranking, and the per-point results of the worst few kept
as a run goes.

:func:`rank` orders scored series worst first: the most incidents, then the highest score,
then the id (so no two series tie). Only scored series with at least one incident are
ranked (:func:`ranked`). :func:`~anomalert.fleet.detect_many` keeps the frames and
:class:`~anomalert.detection.Detection` of the ``keep`` worst in a :class:`WorstKept`, so the
many-series report charts them without reading or scoring them again; it never holds more
than ``keep`` of them (a chunk being scored holds its own ``keep`` at most).

Examples
--------
>>> from anomalert.fleet import SeriesSummary
>>> a, b = SeriesSummary("a", "ok", incidents=1, max_score=9.0), SeriesSummary("b", "ok", incidents=2)
>>> [s.series for s in worst([a, b, SeriesSummary("c", "ok")], 5)]
['b', 'a']
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

if TYPE_CHECKING:
    import pandas as pd

    from anomalert.detection import Detection

__all__ = ["Kept", "Rank", "WorstKept", "rank", "ranked", "worst"]

Rank: TypeAlias = tuple[int, float, str]


class Summary(Protocol):
    """What the ranking reads of a series' summary (:class:`anomalert.fleet.SeriesSummary`)."""

    @property
    def series(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def incidents(self) -> int: ...
    @property
    def max_score(self) -> float: ...


S = TypeVar("S", bound=Summary)


def rank(s: Summary) -> Rank:
    """Sort key, worst first: the most incidents, then the highest max score, then the id."""
    peak = s.max_score if s.max_score == s.max_score else -math.inf
    return (-s.incidents, -peak, s.series)


def ranked(s: Summary) -> bool:
    """Whether ``s`` can be among the worst: scored, with at least one incident."""
    return s.status == "ok" and s.incidents > 0


def worst(summaries: Sequence[S], k: int) -> list[S]:
    """The ``k`` worst series of ``summaries`` by :func:`rank`, worst first."""
    return sorted(filter(ranked, summaries), key=rank)[:k]


@dataclass(frozen=True)
class Kept:
    """One series' summary, validated frame and detection, as the fleet scored it."""

    summary: Summary
    frame: pd.DataFrame
    detection: Detection


class WorstKept:
    """The ``k`` worst series seen so far (by :func:`rank`), never more than ``k``.

    ``bar``: the rank of a ``k``-th worst series seen elsewhere (another chunk); only series
    worse than it are wanted.
    """

    def __init__(self, k: int, bar: Rank | None = None) -> None:
        self.k = k
        self._bar = bar
        self._ranks: list[Rank] = []
        self._kept: list[Kept] = []

    def bar(self) -> Rank | None:
        """The rank a series must beat to be kept (None: any ranked series is)."""
        own = self._ranks[-1] if self.k and len(self._ranks) >= self.k else None
        if own is None or self._bar is None:
            return own if own is not None else self._bar
        return min(own, self._bar)

    def wants(self, s: Summary) -> bool:
        """Whether :meth:`add` would keep ``s`` (ask before building its detection)."""
        bar = self.bar()
        return self.k > 0 and ranked(s) and (bar is None or rank(s) < bar)

    def add(self, kept: Kept) -> None:
        if not self.wants(kept.summary):
            return
        key = rank(kept.summary)
        at = bisect.bisect(self._ranks, key)
        self._ranks.insert(at, key)
        self._kept.insert(at, kept)
        del self._ranks[self.k:], self._kept[self.k:]

    @property
    def kept(self) -> list[Kept]:
        """What is kept, worst first."""
        return list(self._kept)
