"""Output files of the command line: each option's allowed extensions, a check before any
work is done, and writers whose format follows the extension.

>>> output_suffix("out/Scored.CSV.GZ"), output_suffix("x.parquet"), output_suffix("x")
('.csv.gz', '.parquet', '')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anomalert.errors import AnomalertError

__all__ = ["JSON_OUTPUT", "PLOT_OUTPUT", "REPORT_OUTPUT", "TABLE_OUTPUT", "check_output",
           "json_default", "output_suffix", "plot_format", "write_table"]

#: Extensions of each kind of output file (the format follows the extension; see
#: :func:`write_table` and :func:`plot_format`).
TABLE_OUTPUT = (".csv", ".csv.gz", ".parquet", ".pq")
JSON_OUTPUT = (".json",)
PLOT_OUTPUT = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def output_suffix(path: str | Path) -> str:
    """The extension that decides an output's format, lower case (``.csv.gz`` whole)."""
    name = Path(path).name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else Path(name).suffix


def check_output(
    path: str | Path | None, flag: str, formats: Sequence[str] | None = None
) -> None:
    """Refuse an output path that cannot be written before any work is done: its directory
    must exist, it must not be a directory itself, and (given ``formats``, the extensions
    the option writes) its extension must name one of them."""
    if not path:
        return
    out = Path(path)
    if out.is_dir():
        raise AnomalertError(f"{flag} {out}: is a directory; give a file path")
    if formats is not None and output_suffix(out) not in formats:
        ext = f"extension {output_suffix(out)!r}" if output_suffix(out) else "no extension"
        raise AnomalertError(
            f"{flag} {out}: {ext}; the format follows the extension: {', '.join(formats)}"
        )
    if not out.parent.is_dir():
        raise AnomalertError(f"{flag} {out}: directory {out.parent} does not exist")


def write_table(frame: Any, path: str | Path) -> None:
    """Write ``frame`` (no index) as its path's extension says: Parquet for ``.parquet`` /
    ``.pq``, else CSV (gzipped for ``.csv.gz``); :func:`check_output` checked it."""
    if output_suffix(path) in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def plot_format(path: str | Path) -> str:
    """The matplotlib format of a plot path checked against ``PLOT_OUTPUT`` (``png``...)."""
    return output_suffix(path).lstrip(".")


#: Extensions of the HTML report (``--report``).
REPORT_OUTPUT = (".html",)


def json_default(value: Any) -> Any:
    """What ``json`` cannot write itself: numpy numbers as numbers (a count of 10, not
    "10"), times as ISO 8601, anything else as text."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
