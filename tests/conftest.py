"""Shared fixtures: whole pipeline runs, made once per test session and reused by every
test module that reads their outputs (workflow, disclosure matrix, report, annex)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PipelineRun:
    """A finished `neacovid run` on synthetic data at ``scale`` in ``root``."""

    root: Path
    config: Path
    done: subprocess.CompletedProcess

    @property
    def results(self) -> Path:
        return self.root / "results"


def run_pipeline(root: Path, scale: float, extra: dict | None = None) -> PipelineRun:
    config = {
        "results_dir": str(root / "results"),
        "data": {"synthetic_dir": str(root / "synthetic"), "scale": scale},
    }
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "neacovid.cli", "run", "--configfile", str(path)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    return PipelineRun(root, path, done)


@pytest.fixture(scope="session")
def pipeline_small(tmp_path_factory) -> PipelineRun:
    """The default run at scale 0.05 (about 2,900 respondents in 2019)."""
    return run_pipeline(tmp_path_factory.mktemp("run_0.05"), 0.05)


@pytest.fixture(scope="session")
def pipeline_tiny(tmp_path_factory) -> PipelineRun:
    """The default run at scale 0.02, where small cells are common."""
    return run_pipeline(tmp_path_factory.mktemp("run_0.02"), 0.02)


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
