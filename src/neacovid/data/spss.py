"""Every read of an SPSS file (.sav, .zsav) goes through here, in a child process.

pyreadstat parses the file in C (ReadStat). A damaged file can crash that code
(SIGSEGV) or keep it busy, and a crash inside a C extension cannot be caught in
the process it happens in. So each read runs in a child process, and whatever
ends the child -- a signal, a Python exception, the time limit -- becomes one
`InputFileError` naming the file. The result comes back as a pickle in a private
temporary directory.

Where the OS can fork, a reader server (``python -m neacovid.data.spss``) is
started once per process with pyreadstat, pandas and pyarrow loaded and forks
one child per read: a read costs a fork (milliseconds), not a Python start (about
a second), and a read that damaged the child's memory without crashing it
leaves nothing behind for the next read. Elsewhere (Windows) every read starts
a fresh Python. multiprocessing's forkserver and spawn would re-run the main
script in every child, and the workflow's Snakemake scripts have no
``if __name__ == "__main__"`` guard: the reader would run the workflow step again.

Reading the metadata also reads the last row, so a file cut off after its
header (whose header still announces every row) is reported as truncated.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neacovid.errors import MESSAGE_LIMIT, ConfigError, InputFileError, printable

if TYPE_CHECKING:
    import pandas as pd

# Generous: a real NEA file is read in seconds; only a damaged one takes longer.
METADATA_TIMEOUT = 60.0
DATA_TIMEOUT = 600.0
TIMEOUT_ENV = "NEACOVID_SPSS_TIMEOUT"  # seconds, for every SPSS read, if set

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_EXIT_REQUEST_FAILED = 70  # the child could not even report what went wrong
_TRUNCATED = "File did not contain the expected number of rows"  # ReadStat's words
# Windows reports a crash as an NTSTATUS exit code, not as a signal.
_WINDOWS_CRASHES = {
    0xC0000005: "access violation",
    0xC00000FD: "stack overflow",
    0xC0000374: "heap corruption",
    0xC0000409: "stack buffer overrun",
    0xC000001D: "illegal instruction",
    0xC0000094: "integer division by zero",
}


@dataclass(frozen=True)
class SpssMetadata:
    """What an SPSS file's dictionary says, without its data."""

    columns: list[str]
    rows: int
    file_label: str
    encoding: str
    labels: dict  # column -> variable label (only non-empty ones)
    value_labels: dict  # column -> {code: label}
    missing: dict  # column -> [(lo, hi)] declared user-missing ranges


def read_metadata(
    path: str | os.PathLike, where: str | None = None, timeout: float | None = None
) -> SpssMetadata:
    """The dictionary of the SPSS file ``path``, checked to hold every row it announces.

    ``where`` names the file in error messages (default: the path); any failure
    is an `InputFileError`.
    """
    request = {"op": "metadata", "path": str(path)}
    return _read(request, where or str(path), _timeout(timeout, METADATA_TIMEOUT))


def read_data(
    path: str | os.PathLike,
    columns: list[str] | None = None,
    user_missing: bool = True,
    where: str | None = None,
    timeout: float | None = None,
) -> pd.DataFrame:
    """The data of the SPSS file ``path`` (only ``columns``, if given).

    ``user_missing=True`` keeps declared user-missing codes as values (so they
    can be counted); False makes them missing. Any failure, a column not in the
    file included, is an `InputFileError` naming ``where`` (default: the path).
    """
    request = {
        "op": "data",
        "path": str(path),
        "columns": None if columns is None else [str(c) for c in columns],
        "user_missing": bool(user_missing),
    }
    return _read(request, where or str(path), _timeout(timeout, DATA_TIMEOUT))


# --------------------------------------------------------------------------- parent side


def _timeout(given: float | None, default: float) -> float:
    if given is not None:
        return float(given)
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={text!r} must be a positive number of seconds")
    return seconds


def _read(request: dict, where: str, timeout: float):
    with tempfile.TemporaryDirectory(prefix="neacovid-read-") as tmp:
        result = Path(tmp) / "result.pickle"
        request = {**request, "result": str(result), "timeout": timeout}
        status = _SERVER.run(request) if _FORK else _run_fresh(request)
        if status == 0 and result.is_file():
            with open(result, "rb") as fh:
                outcome, value = pickle.load(fh)
            if outcome == "ok":
                return value
            raise InputFileError(f"{where}: {printable(value, limit=MESSAGE_LIMIT)}")
    if status == "timeout" or (hasattr(signal, "SIGALRM") and status == -signal.SIGALRM):
        raise InputFileError(
            f"{where}: reading the SPSS file did not finish within {timeout:g} s; it may be "
            f"damaged: export it again, or allow more time with {TIMEOUT_ENV}=SECONDS"
        )
    raise InputFileError(
        f"{where}: not a readable SPSS file ({_death(status)}); it may be truncated or "
        "damaged: export it again"
    )


def _death(status: int) -> str:
    """Why the child ended without a result, in words."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"the reader crashed: signal {name}"
    if status & 0xFFFFFFFF in _WINDOWS_CRASHES:
        return f"the reader crashed: {_WINDOWS_CRASHES[status & 0xFFFFFFFF]}"
    return f"the reader failed: exit status {status}"


def _child_environment() -> dict:
    env = dict(os.environ)
    # The child must import this package even when the parent found it through
    # a sys.path entry made at run time.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    # Forking a process that runs threads can deadlock the child; the reader
    # needs no BLAS threads.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def _run_fresh(request: dict):
    """One read in a fresh Python: its exit status, or "timeout"."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "neacovid.data.spss", "--once"],
            input=json.dumps(request).encode("utf-8"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_child_environment(),
            timeout=request["timeout"] + 30,  # + the Python start
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return done.returncode


class _ForkServer:
    """The reader server of this process, started at the first read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._owner = 0  # the pid that started it (a forked copy of us must not share it)

    def run(self, request: dict):
        with self._lock:
            child = None
            try:
                process = self._running()
                process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
                process.stdin.flush()
                child = int(process.stdout.readline())  # the read started in this child
                return int(process.stdout.readline())  # its exit status
            except (OSError, ValueError):
                # The server itself is gone (it never should be): read this one
                # file in a fresh Python, start a new server next time.
                self.close(kill=True)
                return _run_fresh(request)
            except BaseException:  # e.g. Ctrl-C while waiting: the protocol is mid-way
                if child is not None:
                    with contextlib.suppress(OSError):
                        os.kill(child, signal.SIGKILL)
                self.close(kill=True)
                raise

    def _running(self) -> subprocess.Popen:
        if self._process is not None and self._owner == os.getpid():
            if self._process.poll() is None:
                return self._process
            self.close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "neacovid.data.spss", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_environment(),
        )
        self._owner = os.getpid()
        if self._process.stdout.readline() != b"ready\n":
            raise OSError("the SPSS reader server did not start")
        return self._process

    def close(self, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None or self._owner != os.getpid():
            return
        try:
            if kill:
                process.kill()
            process.stdin.close()  # the server ends at the end of its input
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        process.stdout.close()


_FORK = hasattr(os, "fork")
_SERVER = _ForkServer()
atexit.register(_SERVER.close)


# --------------------------------------------------------------------------- child side


class _Unreadable(Exception):
    """The file is damaged in a way the message says (without the path)."""


def _metadata(path: str) -> SpssMetadata:
    import pyreadstat

    _, meta = pyreadstat.read_sav(path, metadataonly=True, user_missing=True)
    encoding = meta.file_encoding or "UTF-8"
    columns = list(meta.column_names)
    _check_names(columns, encoding)
    rows = meta.number_rows
    if columns and (rows is None or rows < 0):
        # The header does not say how many rows there are: count them.
        frame, _ = pyreadstat.read_sav(path, usecols=columns[:1])
        rows = len(frame)
    elif columns and rows > 0:
        # The header's row count is no proof that the rows are there: read the last one.
        try:
            pyreadstat.read_sav(path, usecols=columns[:1], row_offset=rows - 1, row_limit=1)
        except Exception as err:
            raise _truncated(err, rows) from None
    return SpssMetadata(
        columns=columns,
        rows=int(rows or 0),
        file_label=meta.file_label or "",
        encoding=encoding,
        labels={k: v for k, v in meta.column_names_to_labels.items() if v},
        value_labels=dict(meta.variable_value_labels),
        missing={k: [(r["lo"], r["hi"]) for r in v] for k, v in meta.missing_ranges.items()},
    )


def _data(path: str, columns: list[str] | None, user_missing: bool):
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(path, usecols=columns, user_missing=user_missing)
    except Exception as err:
        raise _truncated(err, None) from None
    encoding = meta.file_encoding or "UTF-8"
    _check_names(list(frame.columns), encoding)
    if columns is not None:
        absent = [c for c in columns if c not in frame.columns]
        if absent:  # pyreadstat leaves them out without a word
            # A name ReadStat could not decode is absent too: say so if that is why.
            _, everything = pyreadstat.read_sav(path, metadataonly=True)
            names = list(everything.column_names)
            _check_names(names, encoding)
            shown = ", ".join(names[:30]) + (
                f", ... ({len(names)} in all)" if len(names) > 30 else ""
            )
            raise _Unreadable(
                f"column(s) {', '.join(map(repr, absent))} not in the file; its columns are: "
                f"{shown}"
            )
    return frame


def _check_names(columns: list, encoding: str) -> None:
    for i, name in enumerate(columns):
        if not isinstance(name, str):  # ReadStat gives None for a name it cannot decode
            after = f" (after {columns[i - 1]!r})" if i and isinstance(columns[i - 1], str) else ""
            raise _Unreadable(
                f"variable number {i + 1}{after} has a name that is not valid {encoding} "
                "text; the file's dictionary is damaged or in another encoding: rename the "
                "variable in SPSS and export the file again"
            )


def _truncated(err: Exception, rows: int | None) -> Exception:
    if _TRUNCATED not in str(err):
        return err
    announced = f"the {rows:,} rows its header announces" if rows else "all its rows"
    return _Unreadable(f"the SPSS file is truncated: it ends before {announced}; export it again")


_OPERATIONS = {"metadata": _metadata, "data": _data}


def _perform(request: dict) -> None:
    """Do one request and pickle ("ok", value) or ("error", message) to its result file."""
    arguments = {k: v for k, v in request.items() if k not in ("op", "result", "timeout")}
    try:
        outcome = ("ok", _OPERATIONS[request["op"]](**arguments))
    except _Unreadable as err:
        outcome = ("error", str(err))
    except Exception as err:  # ReadStat and pyreadstat raise many types for damaged files
        lines = str(err).strip().splitlines()
        reason = lines[0] if lines else type(err).__name__
        outcome = (
            "error",
            f"not a readable SPSS file ({reason}); it may be truncated, damaged or of "
            "another format: export it again",
        )
    with open(request["result"], "wb") as fh:
        pickle.dump(outcome, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _serve() -> None:
    """POSIX: load the reader once, then fork a child for every request line on stdin.

    Per request it writes two lines: the child's pid when the read starts, its
    exit status (negative: the signal that ended it) when it is over.
    """
    import pandas  # noqa: F401 - loaded once here, not in every child
    import pyarrow  # noqa: F401 - pandas converts text columns with it
    import pyreadstat

    _warm_up(pyreadstat)
    stdin = sys.stdin.buffer
    os.write(1, b"ready\n")
    for line in stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        os.write(1, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(1, f"{os.waitstatus_to_exitcode(status)}\n".encode())


def _child(request: dict) -> None:
    """In the forked child: never return, never touch the server's stdin/stdout."""
    code = _EXIT_REQUEST_FAILED
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # a C library printing would break the protocol
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        # The time limit: SIGALRM's default action ends the child even inside C code.
        signal.setitimer(signal.ITIMER_REAL, request["timeout"])
        _perform(request)
        code = 0
    finally:
        os._exit(code)


def _warm_up(pyreadstat) -> None:
    """Read a small file once, so that pandas' lazy imports happen here, not in every child."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="neacovid-read-") as tmp:
        path = os.path.join(tmp, "warm-up.sav")
        pyreadstat.write_sav(
            pd.DataFrame({"x": [1.0, 8.0], "s": ["a", "b"]}),
            path,
            variable_value_labels={"x": {1.0: "one"}},
            missing_ranges={"x": [8]},
        )
        pyreadstat.read_sav(path, metadataonly=True, user_missing=True)
        pyreadstat.read_sav(path, user_missing=True)
        pyreadstat.read_sav(path, usecols=["x"], row_offset=1, row_limit=1)


def _main(argv: list[str]) -> None:
    if argv == ["--serve"]:
        _serve()
    elif argv == ["--once"]:
        _perform(json.loads(sys.stdin.buffer.read()))
    else:
        sys.exit("usage: python -m neacovid.data.spss --serve | --once (used by neacovid itself)")


if __name__ == "__main__":
    # Run as the imported module, so that what the child pickles is
    # neacovid.data.spss.SpssMetadata, not __main__.SpssMetadata.
    from neacovid.data import spss

    spss._main(sys.argv[1:])
