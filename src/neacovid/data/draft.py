"""A codebook draft for a new survey file: every variable, with guessed mappings.

`draft_codebook` reads a file's dictionary (names, labels, value labels,
missing codes; no data) and writes a complete codebook with one new wave:
the schema and population of the given codebook, and under ``waves:`` a wave
named `PLACEHOLDER` that lists every variable of the file, each with its label
as a comment. A variable gets a proposed mapping when

1. a wave of the codebook maps a variable of the same name (its mapping is
   copied, codes and labels included, unless the file's value labels
   contradict them);
2. a keyword of workflow/codebook/draft_keywords.yaml, or a target's own name
   or schema label, appears in the variable's name or label. Codes then come
   from the file's value labels (``man`` -> male, ``ja`` -> 1, ``C Industrie``
   -> C), with ``labels`` that make harmonisation stop if a later export codes
   them otherwise, and value labels such as ``weet niet`` become ``missing``.

Every proposed line carries ``# GUESS: review``; variables without a guess are
listed commented out. Each target is filled by one variable at most.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from neacovid.data.codebook import Codebook, VarMap, code_label, label_key, load_codebook
from neacovid.data.config import REPO
from neacovid.data.harmonize import FileInfo, file_info
from neacovid.data.io import atomic_path
from neacovid.errors import CodebookError, InputFileError, printable

KEYWORDS_PATH = REPO / "workflow" / "codebook" / "draft_keywords.yaml"
PLACEHOLDER = "RENAME-ME"
GUESS = "# GUESS: review"

# Scores of the evidence for a (variable, target) pair; the best pairs are taken first.
_SAME_NAME = 100
_IN_NAME = 3
_IN_LABEL = 2


@dataclass
class Draft:
    """A codebook draft: its YAML text and what it maps."""

    text: str
    mapped: dict = field(default_factory=dict)  # file variable -> targets
    unmatched: list = field(default_factory=list)  # file variables without a guess
    targets_without_variable: list = field(default_factory=list)
    required_without_variable: list = field(default_factory=list)


def write_codebook_draft(
    path: str | os.PathLike,
    codebook: str | os.PathLike,
    out: str | os.PathLike,
    force: bool = False,
    keywords: str | os.PathLike = KEYWORDS_PATH,
) -> Draft:
    """Write the draft for the file ``path`` to ``out`` (atomically); refuse to
    overwrite an existing ``out`` unless ``force``."""
    out = Path(out)
    if out.exists() and not force:
        raise InputFileError(
            f"{out}: the file exists; give another name for the draft, or --force to overwrite it"
        )
    draft = draft_codebook(path, codebook, keywords)
    with atomic_path(out) as tmp:
        tmp.write_text(draft.text, encoding="utf-8")
    return draft


def draft_codebook(
    path: str | os.PathLike,
    codebook: str | os.PathLike,
    keywords: str | os.PathLike = KEYWORDS_PATH,
) -> Draft:
    """The codebook draft for the file ``path``, from ``codebook``'s schema and waves."""
    path, codebook = Path(path), Path(codebook)
    cb = load_codebook(codebook)
    raw = yaml.safe_load(codebook.read_text(encoding="utf-8"))
    words = _load_keywords(Path(keywords), cb)
    info = file_info(path)
    proposals = _propose(info, cb, raw["schema"], words)
    derived = _known_derived(info, cb, proposals)
    return _render(path, codebook, cb, raw, info, proposals, derived)


# --------------------------------------------------------------------------- keywords


@dataclass(frozen=True)
class _Keywords:
    targets: dict  # target -> [normalised phrases]
    values: dict  # normalised phrase -> value
    missing: tuple  # normalised phrases
    patterns: dict  # target -> compiled regex


def _load_keywords(path: Path, cb: Codebook) -> _Keywords:
    where = f"{path}"
    if not path.is_file():
        raise CodebookError(f"{path}: keyword table for codebook drafts not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise CodebookError(f"{where}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise CodebookError(f"{where}: expected a mapping with targets, values, missing")
    targets = {}
    for target, phrases in (raw.get("targets") or {}).items():
        if target not in cb.schema:
            raise CodebookError(
                f"{where}: keywords for {target!r}, which is not a target of {cb.source}; "
                "fix the name or remove it"
            )
        targets[target] = [_norm(p) for p in phrases]
    values = {}
    for value, phrases in (raw.get("values") or {}).items():
        value = float(value) if isinstance(value, (int, float)) else str(value)
        values.update({_norm(p): value for p in phrases})
    patterns = {}
    for target, pattern in (raw.get("value_patterns") or {}).items():
        try:
            patterns[target] = re.compile(pattern)
        except re.error as err:
            raise CodebookError(f"{where}: value_patterns.{target}: {err}") from None
    missing = tuple(_norm(p) for p in raw.get("missing") or ())
    return _Keywords(targets=targets, values=values, missing=missing, patterns=patterns)


def _norm(text) -> str:
    """Words without case, accents and punctuation: "Geïsoleerd!" -> "geisoleerd"."""
    text = unicodedata.normalize("NFKD", str(text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def _has_phrase(text: str, phrase: str) -> bool:
    return bool(phrase) and f" {phrase} " in f" {text} "


# --------------------------------------------------------------------------- proposals


@dataclass
class _Proposal:
    """What the draft says about one file variable."""

    spec: object = None  # the codebook entry (a target name or a dict), None: no guess
    why: str = ""
    note: str = ""  # what the user should check in particular


def _propose(info: FileInfo, cb: Codebook, schema: dict, words: _Keywords) -> dict:
    proposals = {name: _Proposal() for name in info.columns}
    taken: dict[str, str] = {}  # target -> file variable

    # 1. The same name in a wave of the codebook: that wave's mapping.
    for name in info.columns:
        for wave, vm in _same_name(name, cb, info):
            if any(t in taken for t in vm.targets):
                continue
            contradiction = _contradiction(vm, info.value_labels.get(name))
            if contradiction:
                proposals[
                    name
                ].note = f"wave {wave} maps {vm.variable!r} but the file labels {contradiction}"
                continue
            proposals[name].spec = _spec_of(vm)
            proposals[name].why = f"as {vm.variable!r} in wave {wave}"
            taken.update({t: name for t in vm.targets})
            break

    # 2. Keywords, target names and schema labels in the variable's name or label.
    scored = []
    for name in info.columns:
        if proposals[name].spec is not None:
            continue
        for target in cb.schema:
            score, evidence = _score(name, info.labels.get(name, ""), target, schema[target], words)
            if score:
                scored.append((score, name, target, evidence))
    candidates: dict[str, int] = {}
    for _, _, target, _ in scored:
        candidates[target] = candidates.get(target, 0) + 1
    found: dict[str, list[str]] = {}
    reasons: dict[str, list[str]] = {}
    for _, name, target, evidence in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if target in taken:
            continue
        # A variable fills a second target only if nothing else could (a sector
        # that is also the sampling stratum).
        if found.get(name) and candidates[target] > 1:
            continue
        found.setdefault(name, []).append(target)
        reasons.setdefault(name, []).append(f"{target}: {evidence}")
        taken[target] = name
    for name, targets in found.items():
        spec, note = _spec_from_labels(name, targets, info, cb, words)
        proposals[name].spec = spec
        proposals[name].why = "; ".join(reasons[name])
        proposals[name].note = "; ".join(n for n in (proposals[name].note, note) if n)
    return proposals


def _same_name(name: str, cb: Codebook, info: FileInfo):
    """(wave, mapping) of every codebook wave that maps ``name``, the waves that
    fit the file best first."""

    def fit(wave: str) -> float:
        needed = cb.waves[wave].file_variables
        return sum(info.find(v) is not None for v in needed) / max(len(needed), 1)

    for wave in sorted(cb.waves, key=lambda w: (-fit(w), w)):
        for var, vm in cb.waves[wave].variables.items():
            if var.lower() == name.lower():
                yield wave, vm


def _contradiction(vm: VarMap, file_labels: dict | None) -> str:
    """A code whose file value label differs from the codebook's ``labels``, in words."""
    if not vm.labels or not file_labels:
        return ""
    in_file = {_code_key(c): str(v) for c, v in file_labels.items()}
    for code, expected in vm.labels.items():
        has = in_file.get(_code_key(code))
        if has is not None and label_key(has) != label_key(expected):
            return f"code {code_label(code)} {has!r}, not {expected!r}"
    return ""


def _spec_of(vm: VarMap):
    targets = vm.targets[0] if len(vm.targets) == 1 else list(vm.targets)
    if vm.codes is None and not vm.missing and not vm.labels:
        return targets
    spec: dict = {"target": targets}
    if vm.codes is not None:
        spec["codes"] = {_yaml_code(c): _yaml_value(v) for c, v in vm.codes.items()}
    if vm.missing:
        spec["missing"] = [_yaml_code(c) for c in vm.missing]
    if vm.labels:
        spec["labels"] = {_yaml_code(c): v for c, v in vm.labels.items()}
    return spec


def _score(name: str, label: str, target: str, spec: dict, words: _Keywords):
    """(score, what matched) of ``target`` for the variable ``name`` labelled ``label``."""
    in_name, in_label = _norm(name), _norm(label)
    phrases = [*words.targets.get(target, []), _norm(target)]
    best, evidence = 0.0, ""
    for phrase in phrases:
        points, where = 0, []
        if _has_phrase(in_name, phrase) or in_name.replace(" ", "") == phrase.replace(" ", ""):
            points += _IN_NAME
            where.append("name")
        if _has_phrase(in_label, phrase):
            points += _IN_LABEL
            where.append("label")
        score = points + len(phrase) / 100  # longer phrases say more
        if points and score > best:
            best, evidence = score, f"{' and '.join(where)} has {phrase!r}"
    schema_words = {w for w in _norm(spec.get("label", "")).split() if len(w) > 3}
    if schema_words and schema_words <= set(in_label.split()) and best < _IN_LABEL:
        best, evidence = _IN_LABEL, f"label has the words of {target}'s schema label"
    return best, evidence


def _spec_from_labels(name: str, targets: list, info: FileInfo, cb: Codebook, words: _Keywords):
    """The entry for ``name`` mapped to ``targets``: codes from the value labels
    where the target needs them; (spec, what to check)."""
    value_labels = info.value_labels.get(name) or {}
    declared = info.missing.get(name, [])
    missing, usable = [], {}
    for code, label in value_labels.items():
        if _declared_missing(code, declared):
            continue
        if any(_norm(label).startswith(p) for p in words.missing if p):
            missing.append(_yaml_code(code))
        else:
            usable[code] = str(label)
    target = cb.schema[targets[0]]
    codes, labels, note = None, None, ""
    if target.values is not None and usable:
        by_words = {code: _value_of(label, words) for code, label in usable.items()}
        if all(v is not None and v in target.values for v in by_words.values()):
            codes = {_yaml_code(c): _yaml_value(v) for c, v in by_words.items()}
            labels = {_yaml_code(c): usable[c] for c in by_words}
        elif not all(_code_key(c) in target.values for c in usable):
            note = (
                f"codes {', '.join(code_label(_code_key(c)) for c in usable)} are not all "
                f"values of {targets[0]} ({', '.join(map(code_label, target.values))}): "
                "add 'codes'"
            )
    elif target.values is not None and target.type == "category":
        note = (
            f"the file gives no value labels: add 'codes' that map its codes to "
            f"{', '.join(map(str, target.values))}"
        )
    elif targets[0] in words.patterns and usable:
        pattern = words.patterns[targets[0]]
        codes_match = all(isinstance(c, str) and pattern.search(c) for c in usable)
        taken = {c: pattern.search(label) for c, label in usable.items()}
        if not codes_match and all(taken.values()):
            codes = {_yaml_code(c): m.group(1) for c, m in taken.items()}
            labels = {_yaml_code(c): usable[c] for c in taken}
    spec_targets = targets[0] if len(targets) == 1 else targets
    if codes is None and not missing:
        return spec_targets, note
    spec: dict = {"target": spec_targets}
    if codes is not None:
        spec["codes"] = codes
    if missing:
        spec["missing"] = missing
    if labels:
        spec["labels"] = labels
    return spec, note


def _value_of(label: str, words: _Keywords):
    text = _norm(label)
    for phrase, value in words.values.items():
        if text == phrase or text.startswith(phrase + " "):
            return value
    return None


def _declared_missing(code, declared) -> bool:
    key = _code_key(code)
    for lo, hi in declared:
        if isinstance(key, str) or isinstance(lo, str):
            if str(lo) == str(key):
                return True
        elif lo <= key <= hi:
            return True
    return False


def _known_derived(info: FileInfo, cb: Codebook, proposals: dict) -> dict:
    """Derived targets of the best-fitting wave whose variables the file has."""
    taken = set()
    for proposal in proposals.values():
        spec = proposal.spec
        if spec is None:
            continue
        targets = spec["target"] if isinstance(spec, dict) else spec
        taken.update([targets] if isinstance(targets, str) else targets)
    derived = {}
    for wave in cb.waves:
        for target, der in cb.waves[wave].derived.items():
            if target in taken or target in derived:
                continue
            names = [info.find(v) for v in der.of]
            if all(names):
                entry: dict = {"op": der.op, "of": names}
                if der.missing:
                    entry["missing"] = [_yaml_code(c) for c in der.missing]
                derived[target] = (entry, f"as in wave {wave}")
    return derived


# --------------------------------------------------------------------------- YAML


def _code_key(code):
    """A file code as the codebook compares it: numbers as floats."""
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        return float(code)
    try:
        return float(str(code).strip())
    except ValueError:
        return str(code)


def _yaml_code(code):
    key = _code_key(code)
    if isinstance(key, float) and key.is_integer():
        return int(key)
    return key


def _yaml_value(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _flow(value) -> str:
    """``value`` as one line of YAML (flow style)."""
    text = yaml.safe_dump(
        [value], default_flow_style=True, width=2**31 - 1, allow_unicode=True, sort_keys=False
    )
    return text.strip()[1:-1]


def _comment(text: str) -> str:
    """A YAML comment: one line, whatever the file's labels hold."""
    return "# " + printable(text, limit=400)


def _render(path, codebook, cb, raw, info, proposals, derived) -> Draft:
    mapped = {}
    for name, proposal in proposals.items():
        if proposal.spec is None:
            continue
        targets = proposal.spec["target"] if isinstance(proposal.spec, dict) else proposal.spec
        mapped[name] = [targets] if isinstance(targets, str) else list(targets)
    filled = {t for targets in mapped.values() for t in targets} | set(derived)
    without = [t for t in cb.schema if t not in filled]
    required = [t for t in ("resp_id", "weight", "stratum", "age") if t in without]
    unmatched = [name for name in info.columns if proposals[name].spec is None]

    lines = [
        _comment(f"Codebook draft for {path}"),
        "# written by `neacovid inspect FILE --codebook-draft OUT.yaml`.",
        "#",
        "# Every mapping below is a guess: check each line marked GUESS against the",
        "# questionnaire and the file (`neacovid inspect FILE`), fix it, then delete the mark.",
        "# Variables without a guess are listed commented out, with their labels and codes.",
        "#",
        "# The file is a complete codebook that loads as it is: the schema and population",
        _comment(f"are copied from {codebook}, and the new wave is called {PLACEHOLDER}."),
        f'# To use it, rename {PLACEHOLDER} to the wave\'s id (e.g. "2024-06") and move the',
        "# wave's entry under `waves:` of that codebook (or keep this file as the codebook).",
    ]
    if without:
        lines += ["#", _comment("Schema targets no variable was found for: " + ", ".join(without))]
    if required:
        lines.append(
            _comment(
                "REQUIRED and not found (the codebook does not load without them): "
                + ", ".join(required)
                + ": map a variable to each"
            )
        )
    lines += ["", "version: 1"]
    if "population" in raw:
        lines += ["population:", f"  age: {_flow(raw['population']['age'])}"]
    lines.append("schema:")
    for target, spec in raw["schema"].items():
        lines.append(f"  {_flow(target)}: {_flow(spec)}")
    lines += ["", "waves:", f"  {PLACEHOLDER}:", "    variables:"]
    for name in info.columns:
        proposal = proposals[name]
        lines.append("      " + _comment(_describe(name, info)))
        if proposal.spec is not None:
            line = f"      {_flow(name)}: {_flow(proposal.spec)}  {GUESS} ({proposal.why})"
            lines.append(printable(line, limit=None))
            if proposal.note:
                lines.append("      " + _comment(f"CHECK: {proposal.note}"))
        else:
            reason = proposal.note or "no target matched"
            lines.append("      " + _comment(f"{name}: TARGET  ({reason})"))
    if derived:
        lines.append("    derived:")
        for target, (entry, why) in derived.items():
            lines.append(f"      {target}: {_flow(entry)}  {GUESS} ({why})")
    text = "\n".join(lines) + "\n"
    return Draft(
        text=text,
        mapped=mapped,
        unmatched=unmatched,
        targets_without_variable=without,
        required_without_variable=required,
    )


def _describe(name: str, info: FileInfo) -> str:
    parts = [f"{name}: {info.labels.get(name) or '(no label)'}"]
    values = list((info.value_labels.get(name) or {}).items())
    if values:
        shown = "; ".join(f"{code_label(_code_key(k))} = {v}" for k, v in values[:10])
        more = f"; ... ({len(values)} in all)" if len(values) > 10 else ""
        parts.append(f"values {shown}{more}")
    missing = info.missing.get(name)
    if missing:
        parts.append("missing " + ", ".join(_range(r) for r in missing))
    return " | ".join(parts)


def _range(r) -> str:
    lo, hi = r
    return code_label(_code_key(lo)) if lo == hi else f"{code_label(lo)} thru {code_label(hi)}"
