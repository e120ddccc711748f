"""Parameter rules of the detector contract: each detector declares
``_parameter_constraints`` (a list of :class:`Interval` / :class:`Options` / types per
parameter), checked at ``fit`` with one error format (see :mod:`anomalert.detectors.base`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Interval", "Options"]


@dataclass(frozen=True)
class Interval:
    """A numeric rule: ``kind`` is ``int`` or ``float``; ``None`` bounds are open."""

    kind: type
    left: float | None = None
    right: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, int | np.integer):
            return False
        if self.kind is float and not isinstance(value, int | float | np.integer | np.floating):
            return False
        v = float(value)
        if math.isnan(v):
            return False
        left_open = self.closed in ("right", "neither")
        right_open = self.closed in ("left", "neither")
        if self.left is not None and (v < self.left or (v == self.left and left_open)):
            return False
        return not (self.right is not None and (v > self.right or (v == self.right and right_open)))

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        lo_op = ">=" if self.closed in ("both", "left") else ">"
        hi_op = "<=" if self.closed in ("both", "right") else "<"
        parts = []
        if self.left is not None:
            parts.append(f"{lo_op} {self.left:g}")
        if self.right is not None:
            parts.append(f"{hi_op} {self.right:g}")
        return f"{name} {' and '.join(parts)}".strip()


@dataclass(frozen=True)
class Options:
    """A rule accepting one of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _describe(rule: Any) -> str:
    if rule is None:
        return "None"
    if rule is bool:
        return "a bool"
    if rule is str:
        return "a str"
    return str(rule.describe())


def _accepts(rule: Any, value: Any) -> bool:
    if rule is None:
        return value is None
    if rule is bool:
        return isinstance(value, bool)
    if rule is str:
        return isinstance(value, str)
    return bool(rule.accepts(value))


# --------------------------------------------------------------------------- explanations
