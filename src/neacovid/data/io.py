"""Reading analysis tables (.csv, .parquet, .sav) and writing outputs atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from neacovid.data.spss import read_data
from neacovid.errors import InputFileError

SPSS_SUFFIXES = (".sav", ".zsav")
READABLE_SUFFIXES = (".csv", ".parquet", *SPSS_SUFFIXES)


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a data file by its suffix; SPSS user-missing codes become missing.

    Any failure to read is an `InputFileError` naming the file and what to do.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise InputFileError(
            f"{path}: cannot read files of type {suffix or '(none)'!r}; "
            f"give a {', '.join(READABLE_SUFFIXES)} file"
        )
    if not path.is_file():
        raise InputFileError(f"{path}: file not found; check the path")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty; export the data again")
    if suffix in SPSS_SUFFIXES:
        # in a child process: a crash of the C reader is an error line, not our death
        frame = read_data(path, columns=columns, user_missing=False)
    else:
        frame = _read_text_or_parquet(path, suffix, columns)
    if frame.empty:
        raise InputFileError(f"{path}: the table has no rows (a header only?); export it again")
    return frame


def _read_text_or_parquet(path: Path, suffix: str, columns: list[str] | None) -> pd.DataFrame:
    try:
        if suffix == ".csv":
            return pd.read_csv(path, usecols=columns)
        return pd.read_parquet(path, columns=columns)
    except ValueError as err:  # pandas' usecols / columns mismatch
        available = _columns(path, suffix)
        absent = [c for c in columns or [] if available is not None and c not in available]
        if absent:
            shown = ", ".join(available[:30]) + (
                f", ... ({len(available)} in all)" if len(available) > 30 else ""
            )
            raise InputFileError(
                f"{path}: no column {absent[0]!r}; the columns are: {shown}"
            ) from None
        raise InputFileError(f"{path}: {_first_line(err)}; check the column names") from None
    except Exception as err:  # readers raise many types for corrupt files
        raise InputFileError(
            f"{path}: not a readable {suffix[1:]} file ({_first_line(err)}); "
            "it may be truncated or of another format: export it again"
        ) from None


def _columns(path: Path, suffix: str) -> list[str] | None:
    """The file's column names, or None if they cannot be read either."""
    try:
        if suffix == ".csv":
            return [str(c) for c in pd.read_csv(path, nrows=0).columns]
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception:  # the caller reports the original error
        return None


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place on success.

    A reader never sees a half-written file, and a failed or interrupted write
    leaves no file behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the usual umask mode.
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_table(frame: pd.DataFrame, target: str | os.PathLike) -> None:
    """Write ``frame`` as .csv or .parquet by the suffix of ``target``, atomically."""
    suffix = Path(target).suffix.lower()
    if suffix == ".csv":
        write_csv(frame, target)
    elif suffix == ".parquet":
        with atomic_path(target) as tmp:
            frame.to_parquet(tmp, index=False)
    else:
        raise InputFileError(
            f"{target}: cannot write files of type {suffix or '(none)'!r}; give a .csv or "
            ".parquet file"
        )


def write_csv(frame: pd.DataFrame, target: str | os.PathLike) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
