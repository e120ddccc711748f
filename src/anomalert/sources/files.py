"""CSV and Parquet files with a timestamp column and numeric metric columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from anomalert.data import FrameReport, validate_frame
from anomalert.errors import InputError

__all__ = ["read_table"]


def read_table(
    path: str | Path, *, timestamp_column: str | None = None
) -> tuple[pd.DataFrame, FrameReport]:
    """Read and validate a CSV (optionally gzipped) or Parquet file.

    Raises
    ------
    InputError
        Missing or unreadable file, empty file, or anything :func:`validate_frame` rejects;
        the message starts with the path.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; expected a CSV or Parquet file")
    name = p.name.lower()
    try:
        raw = pd.read_parquet(p) if name.endswith((".parquet", ".pq")) else pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise InputError(f"{p}: empty file; expected a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot read as {'Parquet' if name.endswith(('.parquet', '.pq')) else 'CSV'}: {first}") from None
    return validate_frame(raw, source=str(p), timestamp_column=timestamp_column)
