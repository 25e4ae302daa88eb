"""Text from files reaches the terminal escaped: labels, names, ids and error lines.

A label with an ANSI or title escape would recolour or retitle the user's
terminal, a newline would forge an output line (or cut a one-line error short),
a bidi override would make text read other than it is.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pandas as pd
import pyreadstat
import pytest

from neacovid.data import harmonize
from neacovid.errors import DataError, printable

NASTY = {
    "ansi colour": "\x1b[31mred\x1b[0m",
    "title": "\x1b]0;owned\x07",
    "newline": "one\nFile: forged",
    "carriage return": "visible\rhidden",
    "nul": "before\x00after",
    "bidi override": "abc\u202edcba",
    "bidi isolate": "x\u2066y\u2069",
    "c1 csi": "\x9b31m",
    "line separator": "a\u2028b",
}
CONTROL = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))] + [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u2028",
    "\u2029",
    "\u200e",
    "\u200f",
    "\u061c",
]


def assert_clean(text: str) -> None:
    for line in text.splitlines():
        found = [c for c in CONTROL if c in line]
        assert not found, f"{found!r} in {line!r}"


@pytest.mark.parametrize("name", list(NASTY))
def test_printable_escapes(name):
    shown = printable(NASTY[name])
    assert_clean(shown)
    assert "\n" not in shown
    assert shown.isprintable()


def test_printable_spelling_and_length():
    assert printable("a\nb\r\tc\x1b[0m\x00\u202e") == "a\\nb\\r\\tc\\x1b[0m\\x00\\u202e"
    assert printable("plain text, ë and ß") == "plain text, ë and ß"
    long = printable("x" * 10_000)
    assert len(long) < 400 and long.endswith("(10,000 characters)")
    assert printable("x" * 10_000, limit=None) == "x" * 10_000


def test_inspect_escapes_what_an_spss_file_holds(tmp_path):
    path = tmp_path / "nasty.sav"
    pyreadstat.write_sav(
        pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}),
        str(path),
        file_label="file\x1b[2Jlabel",
        column_labels={"x": NASTY["newline"] + NASTY["ansi colour"], "y": NASTY["bidi override"]},
        variable_value_labels={"x": {1.0: NASTY["title"] + NASTY["carriage return"], 2.0: "ok"}},
    )
    text = harmonize.inspect_file(path)
    assert_clean(text)
    assert "one\\nFile: forged" in text
    assert [line for line in text.split("\n") if line.startswith("File:")] == [f"File: {path}"]
    assert "\\x1b[31mred" in text and "\\x1b]0;owned\\x07" in text and "\\u202e" in text
    assert "file\\x1b[2Jlabel" in text


def test_inspect_escapes_names_and_cuts_absurd_labels(tmp_path, monkeypatch):
    """Names and labels a crafted file could hold (pyreadstat cannot write them)."""
    path = tmp_path / "crafted.sav"
    path.write_bytes(b"$FL2")
    names = ["id\x1b[2J", "a\nb", "rtl\u202e", "plain"]
    info = harmonize.FileInfo(
        path=path,
        kind="SPSS .sav",
        columns=names,
        rows=3,
        labels={"plain": "L" * 10_000, "a\nb": "x\ry\x00z"},
        value_labels={"plain": {1.0: "V" * 10_000, "\x1b": "esc code"}},
        missing={"plain": [(8.0, 9.0)]},
    )
    monkeypatch.setattr(harmonize, "file_info", lambda *args, **kwargs: info)
    text = harmonize.inspect_file(path)
    assert_clean(text)
    lines = text.splitlines()
    assert len(lines) == 4 + len(names) + 2  # header, one line per name, values + missing
    assert max(len(line) for line in lines) < 1000
    assert "(10,000 characters)" in text
    assert "id\\x1b[2J" in text and "a\\nb" in text and "rtl\\u202e" in text


def test_a_newline_in_a_message_stays_on_one_line(tmp_path):
    folder = tmp_path / "in\nside\x1b[31m"
    folder.mkdir()
    missing = folder / "wave.sav"
    done = subprocess.run(
        [sys.executable, "-m", "neacovid", "inspect", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "in\\nside\\x1b[31m" in lines[0], done.stderr
    assert_clean(done.stderr)


def test_a_workflow_step_logs_one_error_line(tmp_path):
    """`neacovid run` finds a job's error by its prefix: an id with a newline must
    not cut it short (duplicate ids are quoted in the message)."""
    from neacovid.run import job_errors
    from neacovid.workflow import run_step

    def step():
        raise DataError("w1.sav (wave w1): panel id variable 'id' has duplicate values (7\nx)")

    log_file = tmp_path / "logs" / "step.log"
    with pytest.raises(SystemExit) as stopped:
        run_step(step, log_file=str(log_file))
    logging.getLogger().handlers.clear()
    assert stopped.value.code == 2
    assert job_errors(log_file.parent) == [
        "w1.sav (wave w1): panel id variable 'id' has duplicate values (7\\nx)"
    ]
