"""Output files of the command line: each option's allowed extensions, a check before any
work is done, and writers whose format follows the extension.

>>> output_suffix("out/Scored.CSV.GZ"), output_suffix("x.parquet"), output_suffix("x")
('.csv.gz', '.parquet', '')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anomalert.errors import AnomalertError, InputError

__all__ = ["JSON_OUTPUT", "PLOT_OUTPUT", "POINT_COLUMNS", "REPORT_OUTPUT", "TABLE_OUTPUT",
           "PointWriter", "check_output", "json_default", "output_suffix", "plot_format",
           "write_table"]

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


#: Columns of the per-point output of many series (``detect_many(..., output=...)``).
POINT_COLUMNS = ("series", "timestamp", "score", "threshold", "is_anomaly", "explanation",
                 "incident")


class PointWriter:
    """Appends per-point frames (:data:`POINT_COLUMNS`) to one CSV or Parquet file, chunk by
    chunk (``detect_many(..., output=...)``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path}: directory {self.path.parent} does not exist")
        if output_suffix(self.path) not in TABLE_OUTPUT:
            raise InputError(f"{self.path}: the format follows the extension: "
                             f"{', '.join(TABLE_OUTPUT)}")
        self.parquet = output_suffix(self.path) in (".parquet", ".pq")
        self.rows = 0
        self._writer: Any = None
        self._started = False

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema([("series", pa.string()), ("timestamp", pa.string()),
                          ("score", pa.float64()), ("threshold", pa.float64()),
                          ("is_anomaly", pa.int64()), ("explanation", pa.string()),
                          ("incident", pa.int64())])

    def write(self, part: Any) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, self._schema())
            self._writer.write_table(pa.Table.from_pandas(part, self._schema(), preserve_index=False))
        else:
            part.to_csv(self.path, mode="a" if self._started else "w",
                        header=not self._started, index=False)
        self._started = True
        self.rows += len(part)

    def close(self) -> None:
        if self.parquet:
            import pyarrow.parquet as pq

            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, self._schema())
            self._writer.close()
        elif not self._started:
            import pandas as pd

            pd.DataFrame(columns=list(POINT_COLUMNS)).to_csv(self.path, index=False)
