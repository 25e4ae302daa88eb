"""`neacovid` as a process of its own, forked from a server that has imported it once.

Most tests run the command line as a user does and read its exit status, stdout and
stderr. A fresh interpreter spends about half a second importing pandas, scipy and the
project before it looks at its arguments; over the suite's few hundred calls that is
more than a minute of `make test`. So a server (multiprocessing's forkserver: a
single-threaded interpreter started once per test process) imports `neacovid.cli` once,
and each call forks a child from it that runs `main(argv)` with its own working
directory, environment, stdin, stdout and stderr, and exits with main's status, as
`python -m neacovid` does. What the fork skips is only the interpreter's start and
the imports; the tests that start the real interpreter (`python -m neacovid`, the
console script, the pipeline runs, the kill tests) keep that path covered.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
try:
    _CONTEXT = multiprocessing.get_context("forkserver")
    _CONTEXT.set_forkserver_preload(["cli_process", "neacovid.cli", "neacovid.run"])
except ValueError:  # no fork (Windows): a fresh interpreter per call
    _CONTEXT = None


def neacovid(
    *args: str,
    cwd: str | os.PathLike = REPO,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``neacovid args`` in a forked process; the result as `subprocess.run` gives
    it with ``capture_output=True, text=True``."""
    if _CONTEXT is None:
        return subprocess.run(
            [sys.executable, "-m", "neacovid", *args],
            cwd=cwd,
            env=env,
            input=input or "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    with tempfile.TemporaryDirectory(prefix="neacovid-cli-") as tmp:
        streams = [os.path.join(tmp, name) for name in ("stdin", "stdout", "stderr")]
        for path, text in zip(streams, (input or "", "", ""), strict=True):
            Path(path).write_text(text, encoding="utf-8")
        child = _CONTEXT.Process(
            target=_main,
            args=(list(args), os.fspath(cwd), dict(os.environ if env is None else env), streams),
        )
        child.start()
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["neacovid", *args], timeout)
        stdout, stderr = (
            Path(p).read_text(encoding="utf-8", errors="replace") for p in streams[1:]
        )
    return subprocess.CompletedProcess(["neacovid", *args], child.exitcode, stdout, stderr)


def _main(argv: Sequence[str], cwd: str, env: dict, streams: Sequence[str]) -> None:
    """The child: `python -m neacovid argv` from here on."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    write = os.O_WRONLY | os.O_APPEND
    for fd, path, flags in zip((0, 1, 2), streams, (os.O_RDONLY, write, write), strict=True):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.argv = ["neacovid", *argv]
    from neacovid.cli import main

    try:
        status = main(list(argv))
    except SystemExit as exit:  # argparse's usage errors, and commands that exit
        status = exit.code
    except BaseException:  # what a fresh interpreter would print and exit 1 with
        traceback.print_exc()
        status = 1
    if status is not None and not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()  # the fork's exit skips them; the real process runs them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or 0)
