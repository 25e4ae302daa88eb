"""Shared fixtures: whole pipeline runs, made once per test session and reused by every
test module that reads their outputs (workflow, disclosure matrix, levels, bad input,
report, annex)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyreadstat
import pytest
import yaml

from neacovid.data.synth import write_waves

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PipelineRun:
    """A finished `neacovid run` in ``root``, given ``configs`` as --configfile, in order."""

    root: Path
    configs: tuple[Path, ...]
    done: subprocess.CompletedProcess

    @property
    def config(self) -> Path:
        return self.configs[0]

    @property
    def results(self) -> Path:
        return self.root / "results"

    def configfile_args(self) -> list[str]:
        return configfile_args(self.configs)


def configfile_args(configs) -> list[str]:
    return [arg for path in configs for arg in ("--configfile", str(path))]


def neacovid_run(*configs: Path) -> subprocess.CompletedProcess:
    """`neacovid run` in a fresh interpreter, as `make report` starts it."""
    return subprocess.run(
        [sys.executable, "-m", "neacovid.cli", "run", *configfile_args(configs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def run_pipeline(root: Path, scale: float, extra: dict | None = None) -> PipelineRun:
    config = {
        "results_dir": str(root / "results"),
        "data": {"synthetic_dir": str(root / "synthetic"), "scale": scale},
    }
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return PipelineRun(root, (path,), neacovid_run(path))


def rewrite(path: Path, change) -> None:
    """Rewrite the .sav file ``path`` with ``change`` applied to its data frame."""
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    frame = change(frame)
    pyreadstat.write_sav(
        frame,
        str(path),
        column_labels={c: meta.column_names_to_labels.get(c) for c in frame.columns},
        variable_value_labels={
            c: v for c, v in meta.variable_value_labels.items() if c in frame.columns
        },
        missing_ranges={c: v for c, v in meta.missing_ranges.items() if c in frame.columns},
    )


def column(path: Path, *fragments: str) -> str:
    """The first variable of the .sav file ``path`` whose name holds one of ``fragments``."""
    frame, _ = pyreadstat.read_sav(str(path), metadataonly=True)
    return next(c for c in frame.columns if any(f in c.lower() for f in fragments))


def add_defects(path: Path) -> None:
    """What a real file has and the run must count, not drop (tests/test_bad_input.py):
    3 impossible hours (-1), 4 answers that are no code of the item (5), 3 ages of 80
    and 2 zero weights."""
    item, age = column(path, "eenzaam_2"), column(path, "leeftijd")
    weight, hours = column(path, "ophoog"), column(path, "uren_thuis")

    def edit(frame):
        frame.loc[frame.index[10:13], hours] = -1.0
        frame.loc[frame.index[:4], item] = 5.0
        frame.loc[frame.index[4:7], age] = 80.0
        frame.loc[frame.index[7:9], weight] = 0.0
        return frame

    rewrite(path, edit)


def made_once(tmp_path_factory, name: str) -> None:
    """Under xdist, fail if another worker has already made the session run ``name``: the
    grouping below broke (as pytest 9.2 broke it for xdist 3.8) and every shared run
    would be paid once per worker."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    shared = tmp_path_factory.getbasetemp().parent  # one directory for all workers
    try:
        os.close(os.open(shared / f"{name}.made", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        pytest.fail(
            f"{name} was made by two xdist workers: the tests that use it are not "
            "grouped on one worker (see pytest_collection_modifyitems)"
        )


@pytest.fixture(scope="session")
def pipeline_small(tmp_path_factory) -> PipelineRun:
    """The default run at scale 0.05 (about 2,900 respondents in 2019)."""
    made_once(tmp_path_factory, "pipeline_small")
    return run_pipeline(tmp_path_factory.mktemp("run_0.05"), 0.05)


@pytest.fixture(scope="session")
def pipeline_tiny(tmp_path_factory) -> PipelineRun:
    """Scale 0.02, where small cells are common, run as an analyst runs real files: every
    wave a .sav file of its own, 2021-11 with defects (`add_defects`), and two overlays
    on top of the base config, one for 99% intervals, one for Benjamini-Hochberg.
    The disclosure matrix, the level and method labels and the counting of defects all
    read this one run (a whole run costs more than all their checks together)."""
    made_once(tmp_path_factory, "pipeline_tiny")
    root = tmp_path_factory.mktemp("run_0.02")
    files = {wave: str(path) for wave, path in write_waves(root / "sav", scale=0.02).items()}
    add_defects(Path(files["2021-11"]))
    configs = []
    for name, config in (
        (
            "config.yaml",
            {
                "results_dir": str(root / "results"),
                "data": {"source": "real", "waves": list(files), "files": files},
            },
        ),
        ("level.yaml", {"tables": {"level": 0.99}}),
        ("testing.yaml", {"compare": {"multiple_testing": "bh"}}),
    ):
        configs.append(root / name)
        configs[-1].write_text(yaml.safe_dump(config), encoding="utf-8")
    return PipelineRun(root, tuple(configs), neacovid_run(*configs))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on every core (pytest-xdist, ``--dist loadgroup``).
    A fixture of module or session scope is made once per worker that needs it, so
    tests that share one go to the same worker: those of a pipeline run together, the
    others by module. Without xdist the marks do nothing."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        names = set(item.fixturenames)
        callspec = getattr(item, "callspec", None)
        chosen = callspec.params.get("run") if callspec else None
        if "pipeline_tiny" in names or chosen == "pipeline_tiny":
            group = "pipeline_tiny"
        elif names & {"pipeline_small", "synthetic_run"} or chosen == "pipeline_small":
            group = "pipeline_small"
        else:
            group = item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
