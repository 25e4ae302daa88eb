"""The run configuration: config.yaml, overrides, and its validation.

Snakemake and `neacovid run` validate against the same JSON schema
(``workflow/schemas/config.schema.yaml``) through `validate_config`, so a wrong
type or an unknown key gets one message that names the key, wherever it is met.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from neacovid.errors import ConfigError, InputFileError

# src/neacovid/data/config.py -> the repository (the package is installed editable).
REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = REPO / "config.yaml"


def load_yaml(path: str | os.PathLike) -> dict:
    """A config file's mapping (`neacovid.data.yamlfile.read_yaml`: data only)."""
    from neacovid.data.yamlfile import read_yaml

    loaded = read_yaml(path, "config file")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (key: value) at the top")
    return loaded


def merge(base: Mapping, override: Mapping) -> dict:
    """Deep-merge ``override`` into ``base`` as Snakemake merges --configfile."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(*overrides: str | os.PathLike, base: str | os.PathLike = DEFAULT_CONFIG) -> dict:
    config = load_yaml(base)
    for path in overrides:
        config = merge(config, load_yaml(path))
    validate_config(config, source=str(overrides[-1]) if overrides else str(base))
    return config


def validate_config(config: Mapping, source: str = "config.yaml") -> None:
    """Raise `ConfigError` naming the first offending key."""
    import jsonschema

    _check_finite(config, source)

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if not errors:
        # Ranges the schema cannot state (min_items up to the number of items, ...).
        from neacovid.data.indicators import resolve_spec

        if "indicators" in config:
            resolve_spec(config["indicators"])
        return
    err = errors[0]
    key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        unexpected = sorted(set(err.instance) - set(allowed))
        hint = f"allowed keys: {', '.join(allowed)}" if allowed else "remove it"
        raise ConfigError(f"{source}: unknown key {unexpected[0]!r} in {key}; {hint}")
    if err.validator == "required":
        raise ConfigError(f"{source}: {key}: {err.message}; add it (see config.yaml)")
    if isinstance(err.instance, datetime.date):  # YAML reads 2026-03-01 as a date
        raise ConfigError(
            f'{source}: {key}: write the date in quotes, e.g. "{err.instance.isoformat()}"'
        )
    raise ConfigError(f"{source}: {key}: {err.message}")


def known_waves(config: Mapping) -> list[str]:
    """The wave ids of ``data.waves_csv``."""
    import csv

    path = Path(config["data"]["waves_csv"])
    if not path.is_file():
        raise ConfigError(f"config data.waves_csv: {path} does not exist; fix the path")
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "wave" not in reader.fieldnames:
                raise ConfigError(
                    f"config data.waves_csv: {path} has no column 'wave' (columns: "
                    f"{', '.join(reader.fieldnames or [])}); it needs wave, fieldwork, respondents"
                )
            waves = [row["wave"] for row in reader]
    except UnicodeDecodeError:
        raise ConfigError(
            f"config data.waves_csv: {path} is not UTF-8 text; save it as UTF-8"
        ) from None
    for wave in waves:
        if not isinstance(wave, str) or not WAVE_ID.match(wave):
            raise ConfigError(
                f"config data.waves_csv: {path}: wave id {wave!r} is not a plain name (letters, "
                "digits, '.', '_', '-'; no '..' or '/'): it becomes part of file names"
            )
    return waves


def fieldwork_start(fieldwork: str) -> tuple[int, int]:
    """(year, month) of the start of a waves.csv ``fieldwork`` ("2019-10/2019-12")."""
    try:
        year, month = str(fieldwork).split("/")[0].split("-")[:2]
        year, month = int(year), int(month)
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        raise InputFileError(
            f"waves.csv: fieldwork {fieldwork!r} is not of the form YYYY-MM[/YYYY-MM]"
        ) from None
    return year, month


def years_between(config: Mapping, first: str, later: str) -> int:
    """Whole years from the start of ``first``'s fieldwork to ``later``'s (waves.csv):
    how much older every panel member is at least."""
    import csv

    with open(config["data"]["waves_csv"], newline="", encoding="utf-8") as handle:
        starts = {row["wave"]: fieldwork_start(row["fieldwork"]) for row in csv.DictReader(handle)}
    (y0, m0), (y1, m1) = starts[str(first)], starts[str(later)]
    return ((y1 - y0) * 12 + (m1 - m0)) // 12


def input_waves(config: Mapping) -> list[str]:
    """The waves whose files the run reads: the analysed ones and the baseline."""
    data = config["data"]
    waves = [str(w) for w in data["waves"]]
    baseline = data.get("baseline")
    if baseline is not None and str(baseline) not in waves:
        waves.append(str(baseline))
    return waves


def check_waves(config: Mapping) -> list[str]:
    """Every wave the config names is in waves.csv, and (real data) has a file.

    Returns the known waves. Shared by `neacovid run` and the Snakefile, so
    a direct ``snakemake`` run checks the same.
    """
    data = config["data"]
    known = known_waves(config)
    named = [("data.waves", str(w)) for w in data["waves"]]
    if data.get("baseline") is not None:
        named.append(("data.baseline", str(data["baseline"])))
    for key, wave in named:
        if wave not in known:
            raise ConfigError(
                f"config {key}: wave {wave!r} is not in {data['waves_csv']} "
                f"(known: {', '.join(known)}); fix the wave name, or add a row for the "
                "new wave to that file (wave, fieldwork, respondents)"
            )
    if data["source"] == "real":
        for wave in input_waves(config):
            path = data["files"].get(wave)
            if path is None:
                why = (
                    " (the baseline: it gives the panel's strata)"
                    if wave not in [str(w) for w in data["waves"]]
                    else ""
                )
                raise ConfigError(
                    f"config data.files: no file for wave {wave!r}{why}; add its path or "
                    "remove the wave from data.waves"
                )
            if not Path(path).is_file():
                raise ConfigError(
                    f"config data.files[{wave!r}]: {path} does not exist; fix the path"
                )
    return known


WAVE_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_finite(node, source: str, key: str = "") -> None:
    """No NaN or infinite number anywhere (YAML's .nan and .inf are numbers too)."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{source}: {key or '(top level)'}: {node!r} is not a finite number")
    if isinstance(node, Mapping):
        for k, v in node.items():
            _check_finite(v, source, f"{key}.{k}" if key else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, source, f"{key}[{i}]")


def check_paths(config: Mapping, repo: Path = REPO) -> None:
    """``results_dir`` is a directory of its own, and file names are plain paths.

    Everything the run writes goes under ``results_dir`` (and the synthetic
    files under ``data.synthetic_dir``), so neither may be the repository, a
    parent of it, the filesystem root, or hold the run's inputs (a committed
    notebook would be overwritten).
    """
    data = config["data"]
    inputs = {
        "data.codebook": data["codebook"],
        "data.waves_csv": data["waves_csv"],
        "key_figures.published": config["key_figures"]["published"],
        "notebooks/": repo / "notebooks",
        "workflow/": repo / "workflow",
        "src/": repo / "src",
    }
    if data["source"] == "real":
        inputs |= {f"data.files[{w!r}]": f for w, f in data["files"].items()}
    for key in ("results_dir", "data.synthetic_dir"):
        value = config["results_dir"] if key == "results_dir" else data["synthetic_dir"]
        if not str(value).strip():
            raise ConfigError(f"config {key}: empty; name a directory of its own, e.g. results")
        target = Path(value).expanduser().resolve()
        if target == Path(target.anchor) or repo == target or repo.is_relative_to(target):
            what = (
                "the filesystem root"
                if target.parent == target
                else ("the repository or a folder that holds it")
            )
            raise ConfigError(
                f"config {key}: {value!r} is {what}; everything the run makes goes there, "
                "so give it a directory of its own, e.g. results"
            )
        for name, path in inputs.items():
            if key == "data.synthetic_dir" and name.startswith("data.files"):
                continue
            if Path(path).expanduser().resolve().is_relative_to(target):
                raise ConfigError(
                    f"config {key}: {value!r} holds an input ({name}: {path}); the run would "
                    "write over it: give it a directory of its own, e.g. results"
                )
    for wave, path in data["files"].items():
        if re.search(r"[{}\x00-\x1f\x7f]", str(path)):
            raise ConfigError(
                f"config data.files[{wave!r}]: {path!r} has a brace or a control character, "
                "which the workflow cannot pass on as a file name; rename the file"
            )
