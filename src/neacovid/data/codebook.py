"""Load and check the codebook: per-wave file variables and codes -> common schema.

The codebook YAML (workflow/codebook/nea_covid.yaml documents the format) is
checked in two steps: its structure against workflow/schemas/codebook.schema.yaml
(jsonschema), then its consistency here. Every problem is a `CodebookError`
naming the wave (or template), target and variable at fault.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from neacovid.data.config import REPO
from neacovid.data.yamlfile import read_yaml
from neacovid.errors import CodebookError

SCHEMA_PATH = REPO / "workflow" / "schemas" / "codebook.schema.yaml"

# Targets every wave must map: without them rows cannot be linked, weighted,
# assigned to a stratum or checked against the population.
REQUIRED_TARGETS = ("resp_id", "weight", "stratum", "age")
# Set by harmonisation itself.
RESERVED_TARGETS = ("wave",)
DEFAULT_AGE_RANGE = (15, 74)


@dataclass(frozen=True)
class Target:
    name: str
    type: str  # "id", "category" or "number"
    values: tuple | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class VarMap:
    """One file variable: the target(s) it fills, its recodes, extra missing codes and
    the value labels the file is expected to give (some of) its codes."""

    variable: str
    targets: tuple[str, ...]
    codes: MappingProxyType | None = None  # normalised code -> value (None = missing)
    missing: tuple = ()
    labels: MappingProxyType | None = None  # normalised code -> expected file value label


@dataclass(frozen=True)
class Derived:
    """A target computed from file variables (``difference``: a - b, negative -> missing)."""

    target: str
    op: str
    of: tuple[str, ...]
    missing: tuple = ()


@dataclass(frozen=True)
class WaveMap:
    """The resolved mapping of one wave (templates and ``extends`` applied)."""

    wave: str
    variables: MappingProxyType  # file variable -> VarMap
    derived: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def file_variables(self) -> list[str]:
        """Every file variable the wave reads, in codebook order."""
        names = list(self.variables)
        for d in self.derived.values():
            names += [v for v in d.of if v not in names]
        return names

    @property
    def targets(self) -> dict[str, str]:
        """Target -> the file variable (or "derived") that fills it."""
        out = {t: v for v, m in self.variables.items() for t in m.targets}
        out.update({t: "derived" for t in self.derived})
        return out


@dataclass(frozen=True)
class Codebook:
    source: str
    schema: MappingProxyType  # target name -> Target
    waves: MappingProxyType  # wave -> WaveMap
    age_range: tuple[float, float] = DEFAULT_AGE_RANGE

    def wave(self, wave: str) -> WaveMap:
        try:
            return self.waves[str(wave)]
        except KeyError:
            raise CodebookError(
                f"{self.source}: wave {wave!r} is not in the codebook (it has "
                f"{', '.join(self.waves)}); add a mapping for it under 'waves:'"
            ) from None


def load_codebook(
    path: str | os.PathLike, schema_path: str | os.PathLike | None = None
) -> Codebook:
    """Read, validate and resolve a codebook YAML file."""
    path = Path(path)
    if not path.is_file():
        raise CodebookError(f"{path}: codebook not found; check data.codebook in config.yaml")
    # Safe first (UTF-8, no aliases, bounded size and depth), then the codebook's own
    # duplicate check, which also sees codes 1 and 1.0 as one key.
    raw = read_yaml(path, "codebook", CodebookError, unique_keys=False)
    try:
        _check_duplicate_keys(
            yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        )
    except CodebookError as err:
        raise CodebookError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise CodebookError(f"{path}: not valid YAML ({_one_line(err)})") from None
    return parse_codebook(raw, source=str(path), schema_path=schema_path)


def parse_codebook(
    raw, source: str = "codebook", schema_path: str | os.PathLike | None = None
) -> Codebook:
    """Validate an already-parsed codebook (a dict) and resolve its waves."""
    if not isinstance(raw, dict):
        raise CodebookError(
            f"{source}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    raw = dict(raw)
    for section in ("waves", "templates"):
        if isinstance(raw.get(section), dict):
            # Unquoted YAML keys such as 2019 arrive as numbers.
            raw[section] = {str(k): v for k, v in raw[section].items()}
    _validate_structure(raw, source, Path(schema_path) if schema_path else SCHEMA_PATH)

    schema = {}
    for name, spec in raw["schema"].items():
        if name in RESERVED_TARGETS:
            raise CodebookError(
                f"{source}: schema target {name!r} is set by harmonisation; remove it"
            )
        schema[name] = Target(
            name=name,
            type=spec["type"],
            values=tuple(_norm_value(v) for v in spec["values"]) if "values" in spec else None,
            min=spec.get("min"),
            max=spec.get("max"),
        )
    missing_core = [t for t in REQUIRED_TARGETS if t not in schema]
    if missing_core:
        raise CodebookError(
            f"{source}: schema lacks the required target(s) {', '.join(missing_core)}"
        )

    age = raw.get("population", {}).get("age", DEFAULT_AGE_RANGE)
    if age[0] > age[1]:
        raise CodebookError(f"{source}: population.age {age} must be [low, high] with low <= high")

    templates = raw.get("templates") or {}
    waves_raw = raw["waves"]
    clash = set(templates) & set(waves_raw)
    if clash:
        raise CodebookError(
            f"{source}: {', '.join(sorted(clash))} is both a template and a wave; rename one"
        )
    everything = {**templates, **waves_raw}

    waves = {}
    for wave in waves_raw:
        variables, derived = _resolve(wave, everything, source, chain=())
        waves[wave] = _check_wave(wave, variables, derived, schema, source)
    for name in templates:  # report template errors even if no wave uses them
        variables, derived = _resolve(name, everything, source, chain=())
        _check_wave(name, variables, derived, schema, source, complete=False)

    return Codebook(
        source=source,
        schema=MappingProxyType(schema),
        waves=MappingProxyType(waves),
        age_range=(float(age[0]), float(age[1])),
    )


def _resolve(name: str, everything: dict, source: str, chain: tuple) -> tuple[dict, dict]:
    """Apply ``extends`` and ``drop``: (file variable -> raw spec, target -> raw derived)."""
    if name in chain:
        raise CodebookError(f"{source}: 'extends' loops: {' -> '.join(chain + (name,))}")
    entry = everything[name]
    variables: dict = {}
    derived: dict = {}
    parent = entry.get("extends")
    if parent is not None:
        if parent not in everything:
            raise CodebookError(
                f"{source}: wave {name!r} extends {parent!r}, "
                "which is neither a template nor a wave"
            )
        variables, derived = _resolve(parent, everything, source, chain + (name,))
        variables, derived = dict(variables), dict(derived)
    for var in entry.get("drop", []):
        if var not in variables:
            raise CodebookError(
                f"{source}: wave {name!r} drops {var!r}, which it does not inherit; "
                "remove it from 'drop'"
            )
        del variables[var]
    lower = {v.lower(): v for v in variables}
    for var, spec in (entry.get("variables") or {}).items():
        if var.lower() in lower and lower[var.lower()] != var:
            # SPSS names are case-insensitive: an override must replace, not add.
            del variables[lower[var.lower()]]
        variables[var] = spec
    derived.update(entry.get("derived") or {})
    return variables, derived


def _check_wave(wave, variables, derived, schema, source, complete=True) -> WaveMap:
    where = f"{source}: wave {wave!r}"
    seen_targets: dict[str, str] = {}
    seen_vars: dict[str, str] = {}
    maps = {}
    for var, spec in variables.items():
        if var.lower() in seen_vars:
            raise CodebookError(
                f"{where}: variables {seen_vars[var.lower()]!r} and {var!r} are the same "
                "SPSS variable (names are case-insensitive); keep one"
            )
        seen_vars[var.lower()] = var
        if not isinstance(spec, dict):
            spec = {"target": spec}
        targets = (spec["target"],) if isinstance(spec["target"], str) else tuple(spec["target"])
        for target in targets:
            _check_target(target, f"{where}, variable {var!r}", schema)
            if target in seen_targets:
                raise CodebookError(
                    f"{where}: target {target!r} is mapped from both {seen_targets[target]!r} "
                    f"and {var!r}; map one file variable per target "
                    "(use 'drop' to remove an inherited one)"
                )
            seen_targets[target] = var
        codes = None
        if "codes" in spec:
            codes = {}
            for code, value in spec["codes"].items():
                key = _norm_code(code)
                if key in codes:
                    raise CodebookError(
                        f"{where}, variable {var!r} (target {targets[0]!r}): "
                        f"code {code!r} is listed "
                        "twice; keep one entry per code"
                    )
                value = None if value is None else _norm_value(value)
                for target in targets:
                    allowed = schema[target].values
                    if value is not None and allowed is not None and value not in allowed:
                        raise CodebookError(
                            f"{where}, variable {var!r}: code {code!r} maps to {value!r}, "
                            "which target "
                            f"{target!r} does not allow (allowed: {', '.join(map(str, allowed))})"
                        )
                codes[key] = value
            codes = MappingProxyType(codes)
        missing = tuple(_norm_code(c) for c in spec.get("missing", []))
        if len(set(missing)) != len(missing):
            raise CodebookError(f"{where}, variable {var!r}: a missing code is listed twice")
        if codes is not None:
            both = [c for c in missing if c in codes]
            if both:
                raise CodebookError(
                    f"{where}, variable {var!r}: code(s) {', '.join(map(str, both))} are both "
                    "recoded and missing; keep them in one of 'codes' or 'missing'"
                )
        labels = None
        if "labels" in spec:
            labels = _check_labels(spec["labels"], codes, missing, f"{where}, variable {var!r}")
        maps[var] = VarMap(
            variable=var, targets=targets, codes=codes, missing=missing, labels=labels
        )

    der = {}
    for target, spec in derived.items():
        _check_target(target, f"{where}, derived target", schema)
        if schema[target].type != "number":
            raise CodebookError(f"{where}: derived target {target!r} must be of type number")
        if target in seen_targets:
            raise CodebookError(
                f"{where}: target {target!r} is both mapped from {seen_targets[target]!r} and "
                "derived; keep one"
            )
        seen_targets[target] = "derived"
        der[target] = Derived(
            target=target,
            op=spec["op"],
            of=tuple(spec["of"]),
            missing=tuple(_norm_code(c) for c in spec.get("missing", [])),
        )

    if complete:
        absent = [t for t in REQUIRED_TARGETS if t not in seen_targets]
        if absent:
            raise CodebookError(
                f"{where}: does not map the required target(s) {', '.join(absent)}; "
                "every wave needs a panel id, weight, stratum and age"
            )
    return WaveMap(wave=wave, variables=MappingProxyType(maps), derived=MappingProxyType(der))


def _check_labels(raw: dict, codes, missing: tuple, where: str) -> MappingProxyType:
    """``labels``: code -> the file's value label, only for codes in ``codes`` or ``missing``."""
    known = [*(codes or ()), *missing]
    labels = {}
    for code, label in raw.items():
        try:
            key = _norm_code(code)
        except CodebookError as err:
            raise CodebookError(f"{where}: in 'labels', {err}") from None
        if key in labels:
            raise CodebookError(
                f"{where}: code {code!r} has two entries in 'labels'; keep one per code"
            )
        if key not in known:
            listed = ", ".join(code_label(c) for c in known) if known else "none"
            raise CodebookError(
                f"{where}: 'labels' gives a label for code {code!r}, which is neither in "
                f"'codes' nor in 'missing' (listed: {listed}); label only codes the "
                "codebook recodes or treats as missing, or add the code to 'codes'"
            )
        if not isinstance(label, str) or not label.strip():
            raise CodebookError(
                f"{where}: the label of code {code!r} in 'labels' must be non-empty text, "
                f"got {label!r}; quote it"
            )
        labels[key] = label
    return MappingProxyType(labels)


def label_key(label: str) -> str:
    """A value label as compared with the file's: case and whitespace do not count."""
    return "".join(str(label).split()).casefold()


def _check_target(target: str, where: str, schema: dict) -> None:
    if target in RESERVED_TARGETS:
        raise CodebookError(f"{where}: target {target!r} is set by harmonisation; do not map it")
    if target not in schema:
        raise CodebookError(
            f"{where}: target {target!r} is not in the common schema; add it under 'schema:' "
            "or fix the spelling"
        )


def _validate_structure(raw: dict, source: str, schema_path: Path) -> None:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        raise CodebookError(
            "the jsonschema package is needed to check codebooks; install it"
        ) from None
    if not schema_path.is_file():
        raise CodebookError(f"codebook JSON schema {schema_path} not found; pass schema_path")
    schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(_jsonable(raw)), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        at = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise CodebookError(f"{source}: at {at}: {_one_line(err.message)}")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def _norm_code(code):
    """Codes compare as floats when numeric (SPSS stores numbers as doubles)."""
    if isinstance(code, bool):
        raise CodebookError(f"code {code!r} is a boolean; quote it or use a number")
    if isinstance(code, (int, float)):
        return float(code)
    return str(code)


def _norm_value(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        if math.isnan(value):
            return None
        return float(value)
    return str(value)


def code_label(code) -> str:
    """A code as text for reports and audits: 3.0 -> "3"."""
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return str(code)


def _one_line(err) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _check_duplicate_keys(node, path: tuple = ()) -> None:
    """Walk the YAML node tree: PyYAML silently keeps the last of duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        seen: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key_node.tag.endswith((":int", ":float")):
                # 1 and 1.0 are the same SPSS code; other spellings compare as text.
                with contextlib.suppress(ValueError):
                    key = float(key)
            if key in seen:
                raise CodebookError(
                    f"{' > '.join(path) or '(top level)'}: key {key_node.value!r} appears twice "
                    f"(lines {seen[key] + 1} and {key_node.start_mark.line + 1}); keep one"
                )
            seen[key] = key_node.start_mark.line
            _check_duplicate_keys(value_node, path + (key_node.value,))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item, path)
