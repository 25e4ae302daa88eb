"""Damaged SPSS files: one clear line naming the file, never a crash, traceback or hang.

ReadStat (pyreadstat's C parser) dies of SIGSEGV on some damaged files, which no
`except` can catch; neacovid.data.spss reads in a child process and turns its
death into an `InputFileError`. The fuzz test feeds 300 random truncations and
byte flips of one small synthetic wave through every library reader (1,200
reads: 11 s on 2 idle cores, 25 s on a busy machine); a few cases go through the
command line. Every read has a time
limit (NEACOVID_SPSS_TIMEOUT, set low here), so no case can hang the test.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cli_process
import pandas as pd
import pytest

from neacovid.data import spss
from neacovid.data.codebook import load_codebook
from neacovid.data.harmonize import check_file, harmonize_wave, inspect_file
from neacovid.data.io import read_table
from neacovid.data.synth import write_waves
from neacovid.errors import InputFileError, NeaCovidError

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "workflow" / "codebook" / "nea_covid.yaml"
WAVE = "2021-11"
SEED = 20240611
CASES = 300
SAV_HEADER = 176  # bytes before the first variable record


@pytest.fixture(scope="module")
def wave(tmp_path_factory) -> Path:
    return write_waves(tmp_path_factory.mktemp("wave"), scale=0.01)[WAVE]


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


@pytest.fixture(autouse=True)
def short_time_limit(monkeypatch):
    monkeypatch.setenv(spss.TIMEOUT_ENV, "20")


def damaged_copies(clean: bytes, n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` copies of ``clean``: a third cut short anywhere, the rest with 1-8 bytes
    replaced by random ones."""
    rng = random.Random(seed)
    copies = []
    for i in range(n):
        if i % 3 == 0:
            cut = rng.randrange(1, len(clean))
            copies.append((f"truncated to {cut} bytes", clean[:cut]))
        else:
            data = bytearray(clean)
            places = sorted(rng.sample(range(len(clean)), rng.randint(1, 8)))
            for place in places:
                data[place] = rng.randrange(256)
            copies.append((f"bytes changed at {places}", bytes(data)))
    return copies


def variable_records(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, short name) of every variable record of a .sav file."""
    pos, records = SAV_HEADER, []
    while struct.unpack_from("<i", data, pos)[0] == 2:
        has_label, n_missing = struct.unpack_from("<ii", data, pos + 8)
        records.append((pos, data[pos + 24 : pos + 32].rstrip()))
        pos += 32
        if has_label:
            (length,) = struct.unpack_from("<i", data, pos)
            pos += 4 + (length + 3) // 4 * 4
        pos += 8 * abs(n_missing)
    return records


def crashing_copy(clean: bytes) -> bytes:
    """The wave with its labelled numeric variable ``sekse`` declared a 256-byte
    string: ReadStat 1.3.7 dies of SIGSEGV on it."""
    offset = next(pos for pos, name in variable_records(clean) if name == b"SEKSE")
    data = bytearray(clean)
    data[offset + 4 : offset + 8] = struct.pack("<i", 256)
    return bytes(data)


def header_only_copy(clean: bytes) -> bytes:
    """The wave cut off right after its dictionary: the header still announces every row."""
    end_of_dictionary = clean.rfind(struct.pack("<ii", 999, 0)) + 8
    return clean[:end_of_dictionary]


def undecodable_name_copy(clean: bytes, index: int) -> bytes:
    """The wave with the short name of variable ``index`` starting with a byte that is not UTF-8."""
    offset = variable_records(clean)[index][0]
    data = bytearray(clean)
    data[offset + 24] = 0xFF
    return bytes(data)


def assert_one_line_naming(err: Exception, path: Path) -> None:
    message = str(err)
    assert str(path) in message, message
    assert "\n" not in message and "\r" not in message, message


# --------------------------------------------------------------------------- fuzz


def test_fuzz_every_reader_survives_damaged_files(wave, codebook, tmp_path):
    clean = wave.read_bytes()
    readers = {
        "inspect": inspect_file,
        "read_table": read_table,
        "harmonize": lambda path: harmonize_wave(path, WAVE, codebook),
    }
    outcomes: Counter = Counter()
    for i, (damage, data) in enumerate(damaged_copies(clean, CASES, SEED)):
        path = tmp_path / f"case{i:03d}.sav"
        path.write_bytes(data)
        for name, read in readers.items():
            try:
                read(path)
            except InputFileError as err:
                assert_one_line_naming(err, path)
                outcomes["unreadable"] += 1
                if "crashed" in str(err):
                    outcomes["crashed"] += 1
            except NeaCovidError as err:
                # A readable file whose damage shows in its contents: a variable
                # renamed (CodebookError) or a weight changed (DataError).
                assert name == "harmonize", f"{name}, case {i} ({damage}): {err}"
                assert_one_line_naming(err, path)
                outcomes["bad contents"] += 1
            else:
                outcomes["read"] += 1
    assert sum(outcomes[k] for k in ("read", "unreadable", "bad contents")) == 3 * CASES
    assert outcomes["read"] > 0 and outcomes["unreadable"] > 0, outcomes


# --------------------------------------------------------------------------- known damage


def test_a_file_that_crashes_readstat_is_one_error(wave, tmp_path):
    path = tmp_path / "crash.sav"
    path.write_bytes(crashing_copy(wave.read_bytes()))
    # In a process of its own, pyreadstat dies of the signal (what neacovid did before).
    raw = subprocess.run(
        [sys.executable, "-c", f"import pyreadstat; pyreadstat.read_sav({str(path)!r})"],
        capture_output=True,
        check=False,
    )
    for read in (spss.read_metadata, spss.read_data, inspect_file, read_table):
        with pytest.raises(InputFileError) as caught:
            read(path)
        assert_one_line_naming(caught.value, path)
        if raw.returncode < 0:  # a POSIX signal; ReadStat may be fixed one day
            assert "the reader crashed: signal SIGSEGV" in str(caught.value)
    # The reader goes on after a crash.
    assert len(read_table(wave)) == 81


def test_a_file_truncated_after_its_header_is_not_complete(wave, codebook, tmp_path):
    path = tmp_path / "header_only.sav"
    path.write_bytes(header_only_copy(wave.read_bytes()))
    for check in (inspect_file, lambda p: check_file(p, WAVE, codebook), read_table):
        with pytest.raises(InputFileError, match="truncated") as caught:
            check(path)
        assert_one_line_naming(caught.value, path)
    assert "81 rows its header announces" in str(caught.value) or "all its rows" in str(
        caught.value
    )


@pytest.mark.parametrize("index", range(29))
def test_a_variable_name_that_is_not_utf8_is_one_error(wave, codebook, tmp_path, index):
    clean = wave.read_bytes()
    assert len(variable_records(clean)) == 29
    path = tmp_path / f"name{index}.sav"
    path.write_bytes(undecodable_name_copy(clean, index))
    for check in (inspect_file, lambda p: check_file(p, WAVE, codebook), read_table):
        with pytest.raises(InputFileError, match="not valid UTF-8") as caught:
            check(path)
        assert_one_line_naming(caught.value, path)
        assert f"variable number {index + 1}" in str(caught.value)


@pytest.mark.skipif(not spss._FORK, reason="the time limit of a fresh Python is subprocess's")
def test_a_read_that_does_not_finish_in_time_is_stopped(wave):
    with pytest.raises(InputFileError, match=r"did not finish within 0\.0001 s") as caught:
        spss.read_data(wave, timeout=0.0001)
    assert_one_line_naming(caught.value, wave)
    assert spss.TIMEOUT_ENV in str(caught.value)
    assert len(spss.read_data(wave)) == 81


def test_a_fresh_python_per_read_where_the_os_cannot_fork(wave, tmp_path, monkeypatch):
    """Windows' way, tried on this OS: the same results and the same errors."""
    expected = spss.read_data(wave, columns=["panelid", "sekse"])
    path = tmp_path / "crash.sav"
    path.write_bytes(crashing_copy(wave.read_bytes()))
    monkeypatch.setattr(spss, "_FORK", False)
    pd.testing.assert_frame_equal(spss.read_data(wave, columns=["panelid", "sekse"]), expected)
    with pytest.raises(InputFileError) as caught:
        spss.read_metadata(path)
    assert_one_line_naming(caught.value, path)


@pytest.mark.skipif(not spss._FORK, reason="the reader server is where the OS can fork")
def test_reads_go_on_when_the_reader_server_is_gone(wave):
    spss.read_metadata(wave)
    spss._SERVER._process.kill()  # as if the OS had ended it
    spss._SERVER._process.wait()
    assert len(spss.read_data(wave)) == 81
    assert spss.read_metadata(wave).rows == 81


def test_the_reader_does_not_run_the_main_script_again(wave, tmp_path):
    """Snakemake scripts have no main guard: a reader that re-imports __main__ in
    its children (multiprocessing's spawn and forkserver) would rerun the step."""
    script = tmp_path / "step.py"
    script.write_text(
        "from neacovid.data.spss import read_data, read_metadata\n"
        "print('step ran', flush=True)\n"
        f"read_metadata({str(wave)!r})\n"
        f"print(len(read_data({str(wave)!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["step", "ran", "81"]


def test_a_bad_timeout_setting_is_one_error(wave, monkeypatch):
    monkeypatch.setenv(spss.TIMEOUT_ENV, "soon")
    with pytest.raises(NeaCovidError, match=spss.TIMEOUT_ENV):
        spss.read_metadata(wave)


# --------------------------------------------------------------------------- command line


def neacovid(*args: str) -> subprocess.CompletedProcess:
    return cli_process.neacovid(*args)


def test_the_command_line_gives_one_line_and_status_2(wave, tmp_path):
    clean = wave.read_bytes()
    files = {
        "crash": crashing_copy(clean),
        "header_only": header_only_copy(clean),
        "name": undecodable_name_copy(clean, 4),
        "fuzz": damaged_copies(clean, 3, SEED)[1][1],
    }
    runs = []
    for name, data in files.items():
        path = tmp_path / f"{name}.sav"
        path.write_bytes(data)
        runs.append((path, neacovid("inspect", str(path))))
    for name in ("crash",):
        path = tmp_path / f"{name}.sav"
        runs.append(
            (path, neacovid("estimate", str(path), "--var", "sekse", "--weight", "ophoogfactor"))
        )
    for path, done in runs:
        assert done.returncode == 2, (path, done.returncode, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0], done.stderr
        assert "Traceback" not in done.stderr
