"""Prometheus label names and the label sets in series names (``cpu{instance="web-1"}``).

A watched series is named after its query and label set, as Prometheus prints them; alerts
and the service's own metrics give those labels back as labels, with names Prometheus accepts.

Examples
--------
>>> parse_labels('{instance="web-1",path="/a\\\\"b"}')
{'instance': 'web-1', 'path': '/a"b'}
>>> label_name("2xx-count")
'_2xx_count'
>>> labels = series_labels('cpu{instance="web-1",pod="a"}', "cpu")
>>> labels["series"], labels["exported_instance"], labels["pod"]
('cpu{instance="web-1",pod="a"}', 'web-1', 'a')
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["RESERVED_LABELS", "label_name", "parse_labels", "query_labels", "series_labels"]

#: Labels the service sets itself, and those Prometheus' scrape attaches (a series label of
#: one of these names is exported as ``exported_<name>``, as Prometheus itself renames them).
RESERVED_LABELS = frozenset({"series", "instance", "job"})
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(text: str) -> str:
    """A valid Prometheus label name made from ``text``."""
    out = _INVALID.sub("_", text) or "_"
    return "_" + out if out[0].isdigit() else out


def parse_labels(labels_part: str) -> dict[str, str]:
    """``{a="1",b="x\\"y"}`` -> ``{"a": "1", "b": 'x"y'}``."""
    out = {}
    for k, v in _PAIR.findall(labels_part):
        out[k] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)
    return out


def query_labels(labels_part: str, configured: Mapping[str, str]) -> dict[str, str]:
    """The labels of a query's series: those of its ``labels_part`` (``{a="1",...}``, what
    follows the query in its name), and over them the query's ``configured`` ones."""
    return {**parse_labels(labels_part), **configured}


def series_labels(name: str, query: str | None) -> dict[str, str]:
    """The labels of a series' samples: ``series`` (its name) and, for a series of the
    configured ``query`` (named ``query{a="1",...}``), its label set: names made valid, and
    those of :data:`RESERVED_LABELS` (or clashing after that) prefixed with ``exported_``."""
    out = {"series": name}
    if query is None or not name.startswith(query + "{"):
        return out
    for key, value in parse_labels(name[len(query):]).items():
        label = label_name(key)
        if label.startswith("__") or label in RESERVED_LABELS:
            label = "exported_" + label
        while label in out:
            label = "exported_" + label
        out[label] = value
    return out
