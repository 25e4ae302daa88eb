"""The run configuration: config.yaml, overrides, and its validation.

Snakemake and `neacovid run` validate against the same JSON schema
(``workflow/schemas/config.schema.yaml``) through `validate_config`, so a wrong
type or an unknown key gets one message that names the key, wherever it is met.
"""

from __future__ import annotations

import copy
import datetime
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from neacovid.errors import ConfigError

# src/neacovid/data/config.py -> the repository (the package is installed editable).
REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = REPO / "config.yaml"


def load_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the path")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML; fix the syntax") from None
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

    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if not errors:
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
            f"{source}: {key}: write the date in quotes, e.g. \"{err.instance.isoformat()}\""
        )
    raise ConfigError(f"{source}: {key}: {err.message}")


def known_waves(config: Mapping) -> list[str]:
    """The wave ids of ``data.waves_csv``."""
    import csv

    path = Path(config["data"]["waves_csv"])
    if not path.is_file():
        raise ConfigError(f"config data.waves_csv: {path} does not exist; fix the path")
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["wave"] for row in csv.DictReader(handle)]


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
                why = " (the baseline: it gives the panel's strata)" if wave not in [
                    str(w) for w in data["waves"]] else ""
                raise ConfigError(
                    f"config data.files: no file for wave {wave!r}{why}; add its path or "
                    "remove the wave from data.waves"
                )
            if not Path(path).is_file():
                raise ConfigError(
                    f"config data.files[{wave!r}]: {path} does not exist; fix the path"
                )
    return known
