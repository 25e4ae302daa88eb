"""pyproject.toml, requirements.lock and environment.yml pin the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*[=]{1,2}\s*([0-9][^\s;]*)\s*", line)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def test_pins_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    declared = _pins(project["dependencies"] + extras["dev"] + extras["lab"])
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda_pins = _pins([d for d in conda if isinstance(d, str) and d != "python=3.11"])
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    assert declared == conda_pins
    for name, version in declared.items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
