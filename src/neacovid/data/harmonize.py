"""Harmonise one wave's survey file to the common schema, with an audit.

`harmonize_wave` reads only the codebook's columns, turns declared SPSS
user-missing codes (and the codebook's extra missing codes) into NA, renames and
recodes to the common schema and excludes respondents outside the population,
counting every excluded row by reason and every unexpected code by variable.
Before reading any data it checks, from the file's metadata, that every mapped
variable is there and that the file's value labels agree with the codebook's
`labels` (a file coded 1/2 = man/vrouw against a codebook coded 0/1 stops with
a `CodebookError` instead of turning every man into a woman). `inspect_file`
lists a file's variables, labels and codes and how well each codebook wave
mapping fits it, to help map a new real file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neacovid.data.codebook import (
    Codebook,
    Derived,
    Target,
    VarMap,
    WaveMap,
    code_label,
    label_key,
    load_codebook,
)
from neacovid.data.io import READABLE_SUFFIXES, SPSS_SUFFIXES
from neacovid.data.spss import read_data, read_metadata
from neacovid.errors import CodebookError, DataError, InputFileError, printable


def harmonize_wave(
    path: str | os.PathLike,
    wave: str,
    codebook: Codebook | str | os.PathLike,
    strict: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Read ``path`` as wave ``wave`` and return (common-schema frame, audit).

    The frame has one row per kept respondent: ``resp_id``, ``wave`` and every
    target of the codebook schema (all-NA where the wave does not map it).
    The audit: file, wave, rows_read, rows_kept, rows_excluded {reason: n},
    unmapped_codes {variable: {code: n}}, missing_codes {variable: {code: n}}
    (declared missing codes met) and not_mapped (schema targets absent in this
    wave); rows_read == rows_kept + sum(rows_excluded).
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    wave = str(wave)
    mapping = cb.wave(wave)
    path = Path(path)
    where = f"{path} (wave {wave})"
    info, actual = _match_variables(path, wave, cb)
    _check_value_labels(info, actual, mapping, where, cb.source)
    id_variable = actual[mapping.targets["resp_id"]]
    frame = _read(
        path, info, [actual[v] for v in mapping.file_variables], where, text=[id_variable]
    )
    _check_exact_ids(frame[id_variable], where)
    _check_numeric_weight(frame[actual[mapping.targets["weight"]]], where)
    rows_read = len(frame)
    if rows_read == 0:
        raise InputFileError(f"{where}: the file has no respondents; export the data again")

    unmapped: dict[str, dict[str, int]] = {}
    missing_met: dict[str, dict[str, int]] = {}
    out_of_range: dict[str, dict[str, int]] = {}
    ranges: dict[str, str] = {}  # the variable's allowed range, for the messages
    columns: dict[str, pd.Series] = {}
    for var, vm in mapping.variables.items():
        name = actual[var]
        for target in vm.targets:
            values, bad, met, outside = _convert(
                frame[name], info.missing.get(name, ()), vm, cb.schema[target]
            )
            columns[target] = values
            _merge(unmapped, name, bad)
            _merge(missing_met, name, met)
            _merge(out_of_range, name, outside)
            ranges[name] = _allowed_range(cb.schema[target])
    for target, der in mapping.derived.items():
        values, met, outside = _derive(frame, actual, info, der, cb.schema[target])
        columns[target] = values
        for name, counts in met.items():
            _merge(missing_met, name, counts)
        label = f"{target} ({' - '.join(actual[v] for v in der.of)})"
        _merge(out_of_range, label, outside)
        ranges[label] = _allowed_range(cb.schema[target])
    if strict and out_of_range:
        variable, counts = next(iter(out_of_range.items()))
        code, count = next(iter(counts.items()))
        raise CodebookError(
            f"{where}: variable {variable!r} has {count} value(s) {code} outside its range "
            f"{ranges[variable]} (strict mode); correct the file, widen min/max of the target "
            f"in the schema of {cb.source}, or set data.strict: false to count them as missing"
        )
    if strict and unmapped:
        variable, counts = next(iter(unmapped.items()))
        code, count = next(iter(counts.items()))
        raise CodebookError(
            f"{where}: variable {variable!r} has {count} value(s) {code} that {cb.source} "
            "does not map (strict mode); add the code to the codebook or set data.strict: false"
        )

    out = pd.DataFrame(index=pd.RangeIndex(rows_read))
    for target, spec in cb.schema.items():
        if target in columns:
            out[target] = columns[target].to_numpy()
        else:
            out[target] = pd.Series(
                np.nan, index=out.index, dtype="str" if spec.type != "number" else float
            )
        if target == "resp_id":
            out["wave"] = pd.Series(wave, index=out.index, dtype="str")
    out = out[["resp_id", "wave", *[t for t in cb.schema if t != "resp_id"]]]

    _check_ids(out["resp_id"], mapping.targets["resp_id"], where)
    low, high = cb.age_range
    reason = pd.Series(None, index=out.index, dtype=object)
    age = out["age"]
    reason[age.isna()] = "age_missing"
    reason[reason.isna() & ((age < low) | (age > high))] = f"age_outside_{_num(low)}_{_num(high)}"
    in_pop = reason.isna()
    _check_weights(out["weight"], in_pop, mapping.targets["weight"], where)
    reason[in_pop & (out["weight"] == 0)] = "weight_zero"

    keep = reason.isna().to_numpy()
    excluded = {
        "age_missing": 0,
        f"age_outside_{_num(low)}_{_num(high)}": 0,
        "weight_zero": 0,
    }
    for key, count in reason[~keep].value_counts().items():
        excluded[key] = int(count)
    result = out[keep].reset_index(drop=True)
    audit = {
        "file": str(path),
        "wave": wave,
        "rows_read": rows_read,
        "rows_kept": int(keep.sum()),
        "rows_excluded": excluded,
        "unmapped_codes": unmapped,
        "out_of_range": out_of_range,  # impossible numbers, set missing
        "missing_codes": missing_met,
        "not_mapped": [t for t in cb.schema if t not in columns],
    }
    assert audit["rows_read"] == audit["rows_kept"] + sum(excluded.values())
    return result, audit


def check_file(path: str | os.PathLike, wave: str, codebook: Codebook | str | os.PathLike) -> None:
    """Check, from the file's metadata only, that it can be harmonised as ``wave``.

    The workflow runs this for every wave before any job starts, so a missing
    variable, or value labels that contradict the codebook's ``labels``, stop the
    run before anything is written.
    """
    cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
    path, wave = Path(path), str(wave)
    info, actual = _match_variables(path, wave, cb)
    _check_value_labels(info, actual, cb.wave(wave), f"{path} (wave {wave})", cb.source)


def _match_variables(path: Path, wave: str, cb: Codebook) -> tuple[FileInfo, dict]:
    """The file's metadata and, per mapped variable, its name in the file."""
    mapping = cb.wave(wave)
    where = f"{path} (wave {wave})"
    info = file_info(path, where)
    actual = {}
    absent = []
    for var in mapping.file_variables:
        name = info.find(var)
        if name is None:
            absent.append(var)
        actual[var] = name
    if absent:
        hint = (
            "is this the file of another wave? `neacovid inspect` shows which mapping fits"
            if len(absent) > len(actual) / 2
            else "fix the names in the codebook (`neacovid inspect` lists the file's variables)"
        )
        raise CodebookError(
            f"{where}: {len(absent)} variable(s) mapped in {cb.source} are not in the file "
            f"({_preview(absent, limit=8)}); {hint}"
        )
    return info, actual


def _check_value_labels(
    info: FileInfo, actual: dict, mapping: WaveMap, where: str, source: str
) -> None:
    """Stop if the file's value labels contradict the codebook's ``labels``.

    Per mapped variable with ``labels`` that the file gives value labels: a code
    whose file label is another one than the codebook expects, or an expected
    label that the file puts on another code, means the file's codes do not mean
    what ``codes`` says. Labels compare without case and whitespace. Variables
    without value labels in the file (CSV, Parquet, unlabelled) are not checked.
    """
    for var, vm in mapping.variables.items():
        declared = info.value_labels.get(actual[var]) if vm.labels else None
        if not declared:
            continue
        in_file = {_label_code(code): str(label) for code, label in declared.items()}
        codes_of: dict[str, list] = {}
        for code, label in in_file.items():
            codes_of.setdefault(label_key(label), []).append(code)
        problems = []
        for code, expected in vm.labels.items():
            code = _label_code(code)
            has = in_file.get(code)
            if has is not None and label_key(has) == label_key(expected):
                continue
            elsewhere = [c for c in codes_of.get(label_key(expected), []) if c != code]
            if has is None and not elsewhere:
                continue  # the file does not label this code: nothing contradicts
            text = f"code {code_label(code)}: " + (
                f"file label {has!r}" if has is not None else "no file label"
            )
            text += f", codebook label {expected!r}"
            if elsewhere:
                text += f" (the file labels code {code_label(elsewhere[0])} "
                text += f"{in_file[elsewhere[0]]!r})"
            problems.append(text)
        if problems:
            shown = "; ".join(problems[:4])
            if len(problems) > 4:
                shown += f"; ... ({len(problems)} codes in all)"
            raise CodebookError(
                f"{where}: the value labels of variable {actual[var]!r} contradict {source}: "
                f"{shown}; the file's codes mean other categories than the codebook's "
                "'codes' say, so recoding would be wrong: fix 'codes' and 'labels' of "
                f"{var!r} for this wave in the codebook, or recode the file to the "
                "codebook's codes (haven::write_sav stores an R factor as codes 1..k)"
            )


def _label_code(code):
    """A value-label code as compared with the codebook's: 1, 1.0 and "1" are one code."""
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        return float(code)
    text = str(code).strip()
    try:
        return float(text)
    except ValueError:
        return text


def inspect_file(
    path: str | os.PathLike, codebook: Codebook | str | os.PathLike | None = None
) -> str:
    """A text listing of a file's variables (labels, value labels, missing codes)
    and how many variables of each codebook wave mapping it holds."""
    path = Path(path)
    info = file_info(path)
    # Names and labels come from the file: escaped, so that control characters
    # (ANSI escapes, newlines, bidi overrides) cannot reach the terminal.
    names = {name: printable(name) for name in info.columns}
    lines = [
        f"File: {printable(path, limit=None)}",
        f"Format: {info.kind}; {info.rows if info.rows is not None else '?'} rows; "
        f"{len(info.columns)} variables",
    ]
    if info.file_label:
        lines.append(f"Label: {printable(info.file_label)}")
    lines += ["", "Variables (name, label, value labels, missing codes):"]
    width = min(max((len(n) for n in names.values()), default=4), 32)
    for name in info.columns:
        label = printable(info.labels.get(name) or "")
        lines.append(f"  {names[name]:<{width}}  {label}".rstrip())
        values = info.value_labels.get(name)
        if values:
            shown = "; ".join(
                f"{printable(code_label(k), limit=40)} = {printable(v, limit=80)}"
                for k, v in list(values.items())[:12]
            )
            more = f"; ... ({len(values)} in all)" if len(values) > 12 else ""
            lines.append(f"  {'':<{width}}    values: {shown}{more}")
        missing = info.missing.get(name)
        if missing:
            lines.append(
                f"  {'':<{width}}    missing: "
                + printable(", ".join(_range_text(r) for r in missing))
            )
    if codebook is not None:
        cb = codebook if isinstance(codebook, Codebook) else load_codebook(codebook)
        lines += ["", f"Codebook {cb.source}: wave mappings (file variables present / needed):"]
        fits = []
        for wave, mapping in cb.waves.items():
            needed = mapping.file_variables
            gone = [v for v in needed if info.find(v) is None]
            fits.append((len(needed) - len(gone), wave, needed, gone))
        for present, wave, needed, gone in sorted(
            fits, key=lambda f: (-f[0] / max(len(f[2]), 1), f[1])
        ):
            status = (
                "complete"
                if not gone
                else "absent: " + ", ".join(gone[:10]) + (" ..." if len(gone) > 10 else "")
            )
            lines.append(f"  {wave:<10} {present:>3}/{len(needed):<3} {printable(status)}")
        unused = [
            c
            for c in info.columns
            if not any(
                c.lower() in {v.lower() for v in m.file_variables} for m in cb.waves.values()
            )
        ]
        if unused:
            lines.append(f"  not mapped in any wave: {', '.join(names[c] for c in unused)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- reading


@dataclass
class FileInfo:
    """What a data file holds: variables, and for SPSS files its dictionary."""

    path: Path
    kind: str
    columns: list[str]
    rows: int | None = None
    file_label: str = ""
    labels: dict = field(default_factory=dict)
    value_labels: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)  # column -> [(lo, hi)]

    def find(self, var: str) -> str | None:
        """The file's name for ``var``: exact, else case-insensitive (SPSS names are)."""
        if var in self.columns:
            return var
        lower = [c for c in self.columns if c.lower() == var.lower()]
        return lower[0] if len(lower) == 1 else None


def file_info(path: Path, where: str | None = None) -> FileInfo:
    """The file's variables and dictionary, read without its data (SPSS: in a child
    process, see neacovid.data.spss); ``where`` names it in errors (default: the path)."""
    where = where or str(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputFileError(f"{where}: file not found; check data.files in config.yaml")
    if not path.is_file():
        raise InputFileError(f"{where}: is not a file; give the path of a .sav file")
    if suffix not in READABLE_SUFFIXES:
        raise InputFileError(
            f"{where}: cannot read files of type {suffix or '(none)'!r}; "
            f"give a {', '.join(READABLE_SUFFIXES)} file"
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"{where}: the file is empty; export the data again")
    if suffix in SPSS_SUFFIXES:
        meta = read_metadata(path, where=where)
        return FileInfo(
            path=path,
            kind="SPSS " + suffix,
            columns=meta.columns,
            rows=meta.rows,
            file_label=meta.file_label,
            labels=meta.labels,
            value_labels=meta.value_labels,
            missing=meta.missing,
        )
    try:
        if suffix == ".csv":
            return FileInfo(path=path, kind="CSV", columns=list(pd.read_csv(path, nrows=0).columns))
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        return FileInfo(
            path=path,
            kind="Parquet",
            columns=list(pf.schema_arrow.names),
            rows=pf.metadata.num_rows,
        )
    except Exception as err:  # the readers raise many types for corrupt files
        raise InputFileError(
            f"{where}: not a readable {suffix[1:]} file ({_first_line(err)}); it may be truncated "
            "or of another format: export it again"
        ) from None


def _read(
    path: Path, info: FileInfo, columns: list[str], where: str, text: list[str] = ()
) -> pd.DataFrame:
    """The file's ``columns``; those in ``text`` (ids) read as text from CSV, so that
    an id above 2**53 does not pass through a float and lose its last digits."""
    if info.kind.startswith("SPSS"):
        # user_missing=True keeps the codes, so they can be counted; _convert
        # turns every declared missing code into NA.
        return read_data(path, columns=columns, user_missing=True, where=where)
    try:
        if info.kind == "CSV":
            frame = pd.read_csv(path, usecols=columns, dtype={c: str for c in text})
        else:
            frame = pd.read_parquet(path, columns=columns)
    except Exception as err:
        raise InputFileError(
            f"{where}: reading the data failed ({_first_line(err)}); the file may be truncated "
            "or damaged: export it again"
        ) from None
    return frame


# --------------------------------------------------------------------------- recoding


def _convert(col: pd.Series, declared, vm: VarMap, target: Target):
    """Map one file column to one target: (values, unmapped counts, missing counts,
    out-of-range counts). A number outside the schema's min/max is not a code the
    codebook lacks but an impossible value (hours -1): it is counted apart."""
    if (
        vm.codes is None
        and target.type == "number"
        and target.values is None
        and pd.api.types.is_numeric_dtype(col.dtype)
    ):
        return _convert_numbers(col.to_numpy(dtype=float), declared, vm, target)
    codes, inverse = _factorize(col)
    counts = np.bincount(inverse[inverse >= 0], minlength=len(codes))
    table = np.empty(len(codes), dtype=object)
    bad: dict[str, int] = {}
    met: dict[str, int] = {}
    outside: dict[str, int] = {}
    for i, raw in enumerate(codes):
        if _is_missing(raw, declared, vm.missing):
            table[i] = None
            met[code_label(raw)] = met.get(code_label(raw), 0) + int(counts[i])
            continue
        if vm.codes is not None:
            key = _code_key(raw, vm.codes)
            value = vm.codes[key] if key is not None else _UNMAPPED
        else:
            value = _as_type(raw, target)
        if value is not _UNMAPPED and value is not None and not _allowed(value, target):
            if target.type == "number" and target.values is None and not isinstance(value, str):
                outside[code_label(raw)] = outside.get(code_label(raw), 0) + int(counts[i])
                table[i] = None
                continue
            value = _UNMAPPED
        if value is _UNMAPPED:
            bad[code_label(raw)] = bad.get(code_label(raw), 0) + int(counts[i])
            value = None
        table[i] = value
    return _typed(table, inverse, target), bad, met, outside


def _convert_numbers(raw: np.ndarray, declared, vm: VarMap, target: Target):
    """`_convert` of numbers to a number target without codes, on whole arrays: a weight
    or hours column has nearly as many distinct values as respondents. Counts are keyed
    by code label in increasing order, as `_convert` keys them."""
    known = ~np.isnan(raw)
    missing = np.zeros(len(raw), dtype=bool)
    for low, high in declared:
        if not isinstance(low, str):
            missing |= (raw >= low) & (raw <= high)
    extra = [m for m in vm.missing if not isinstance(m, str)]
    if extra:
        missing |= np.isin(raw, extra)
    missing &= known
    low = -np.inf if target.min is None else target.min
    high = np.inf if target.max is None else target.max
    outside = known & ~missing & ((raw < low) | (raw > high))
    values = np.where(known & ~missing & ~outside, raw, np.nan)
    return (
        pd.Series(values, dtype=float),
        {},
        _label_counts(raw[missing]),
        _label_counts(raw[outside]),
    )


def _label_counts(raw: np.ndarray) -> dict[str, int]:
    codes, counts = np.unique(raw, return_counts=True)
    return {code_label(float(c)): int(n) for c, n in zip(codes, counts, strict=True)}


def _derive(frame, actual, info: FileInfo, der: Derived, target: Target):
    parts = []
    met: dict[str, dict[str, int]] = {}
    for var in der.of:
        name = actual[var]
        number = Target(name=var, type="number")
        vm = VarMap(variable=var, targets=(target.name,), missing=der.missing)
        values, bad, counts, _ = _convert(frame[name], info.missing.get(name, ()), vm, number)
        if bad:
            raise DataError(
                f"{info.path}: variable {name!r} (used to derive {target.name!r}) "
                "holds non-numeric "
                f"values such as {next(iter(bad))!r}; fix the file or the codebook"
            )
        met[name] = counts
        parts.append(values.to_numpy(dtype=float))
    result = parts[0] - parts[1]
    outside = np.array(
        [not np.isnan(v) and (v < 0 or not _allowed(float(v), target)) for v in result],
        dtype=bool,
    )
    counts = {}
    if outside.any():
        counts = {
            "difference below 0"
            if (result[outside] < 0).all()
            else "difference outside the range": int(outside.sum())
        }
        result[outside] = np.nan
    return pd.Series(result), met, counts


_UNMAPPED = object()


def _factorize(col: pd.Series):
    if pd.api.types.is_numeric_dtype(col.dtype):
        codes, inverse = np.unique(col.to_numpy(dtype=float), return_inverse=True)
        inverse = np.where(np.isnan(col.to_numpy(dtype=float)), -1, inverse)
        return [float(c) for c in codes if not np.isnan(c)], inverse
    inverse, uniques = pd.factorize(col, use_na_sentinel=True)
    return [str(u) for u in uniques], inverse


def _is_missing(raw, declared, extra) -> bool:
    if isinstance(raw, str):
        if raw.strip() == "":
            return True
        if raw in extra or raw.strip() in extra:
            return True
        return any(isinstance(lo, str) and raw == lo for lo, _ in declared)
    if raw in extra:
        return True
    return any(not isinstance(lo, str) and lo <= raw <= hi for lo, hi in declared)


def _code_key(raw, codes):
    if raw in codes:
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text in codes:
            return text
        try:
            number = float(text)
        except ValueError:
            return None
        return number if number in codes else None
    label = code_label(raw)
    return label if label in codes else None


def _as_type(raw, target: Target):
    if target.type == "number":
        if isinstance(raw, str):
            try:
                return float(raw.strip().replace(",", "."))
            except ValueError:
                return _UNMAPPED
        return float(raw)
    return raw.strip() if isinstance(raw, str) else code_label(raw)


def _allowed_range(target: Target) -> str:
    low = "-inf" if target.min is None else _num(target.min)
    high = "inf" if target.max is None else _num(target.max)
    return f"[{low}, {high}]"


def _allowed(value, target: Target) -> bool:
    if target.values is not None:
        return value in target.values
    if target.type == "number":
        if isinstance(value, str):
            return False
        if target.min is not None and value < target.min:
            return False
        if target.max is not None and value > target.max:
            return False
    elif target.type == "id" and isinstance(value, float):
        return False
    return True


def _typed(table: np.ndarray, inverse: np.ndarray, target: Target) -> pd.Series:
    """The values of the distinct codes (``table``) at each row (``inverse``, -1 for
    none) as the target's type: converted once per code, then spread over the rows."""
    ok = inverse >= 0
    if target.type == "number":
        if any(isinstance(v, str) for v in table):
            raise CodebookError(
                f"target {target.name!r} is a number but its codes map to text; fix 'codes'"
            )
        numbers = np.array([np.nan if v is None else v for v in table], dtype=float)
        values = np.full(len(inverse), np.nan)
        values[ok] = numbers[inverse[ok]]
        return pd.Series(values, dtype=float)
    labels = [
        None if v is None else code_label(v) if isinstance(v, float) else str(v) for v in table
    ]
    if target.type == "id":
        # A panel id written as zero-padded text ("0369330") must link to the
        # same person written as a number (369330) in another wave's file.
        labels = [_strip_zeros(v) for v in labels]
    values = np.full(len(inverse), None, dtype=object)
    values[ok] = np.array(labels, dtype=object)[inverse[ok]]
    return pd.Series(values, dtype="str")


def _strip_zeros(value: str | None) -> str | None:
    if value is None or not value.isdigit():
        return value
    return value.lstrip("0") or "0"


def _check_ids(ids: pd.Series, var: str, where: str) -> None:
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())
        raise DataError(
            f"{where}: panel id variable {var!r} is missing in {len(rows)} row(s) "
            f"(rows {_preview(rows + 1)}); every respondent needs an id: fix the file"
        )
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise DataError(
            f"{where}: panel id variable {var!r} has duplicate values ({_preview(dup.unique())}); "
            "each respondent must appear once per wave: remove the duplicates or map the right id"
        )


# Integers a float64 holds exactly: a panel id beyond them has lost digits.
_EXACT_FLOAT = 2**53
# No respondent stands for more persons than this: a larger weight is a wrong variable.
MAX_WEIGHT = 1e12


def _check_exact_ids(raw: pd.Series, where: str) -> None:
    if pd.api.types.is_float_dtype(raw):
        big = raw.abs() >= _EXACT_FLOAT
        if big.any():
            raise DataError(
                f"{where}: panel id variable {raw.name!r} is stored as a floating-point number "
                f"and {int(big.sum())} id(s) are 2**53 or more, so their last digits are lost "
                "(two persons can become one): store the ids as text or 64-bit integers"
            )


def _check_numeric_weight(raw: pd.Series, where: str) -> None:
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        bad = np.isinf(values) | (values < 0) | (values > MAX_WEIGHT)
        if bad.any():
            value = values[np.flatnonzero(bad)[0]]
            what = (
                "negative"
                if value < 0
                else "infinite"
                if np.isinf(value)
                else (f"above {MAX_WEIGHT:g}")
            )
            raise DataError(
                f"{where}: weight variable {raw.name!r} is {what} for {int(bad.sum())} "
                f"respondent(s) (e.g. {value:g}); weights are positive numbers of persons: "
                "check the codebook mapping or fix the file"
            )
        return
    text = raw.dropna().astype(str).str.strip()
    bad = text[(text != "") & pd.to_numeric(text, errors="coerce").isna()]
    if len(bad):
        raise DataError(
            f"{where}: weight variable {raw.name!r} is not numeric (e.g. {bad.iloc[0]!r}); "
            "map the file's numeric weight variable in the codebook"
        )


def _check_weights(weight: pd.Series, in_pop: pd.Series, var: str, where: str) -> None:
    lacking = weight.isna() & in_pop
    if lacking.any():
        rows = np.flatnonzero(lacking.to_numpy())
        raise DataError(
            f"{where}: weight variable {var!r} is missing for {len(rows)} respondent(s) "
            f"(rows {_preview(rows + 1)}); every respondent needs a weight: use the "
            "complete weight variable of the file or fix the file"
        )
    negative = (weight < 0) & in_pop
    if negative.any():
        raise DataError(
            f"{where}: weight variable {var!r} is negative for "
            f"{int(negative.sum())} respondent(s); "
            "weights must be >= 0: check the codebook mapping"
        )


def _merge(into: dict, name: str, counts: dict) -> None:
    if counts:
        slot = into.setdefault(name, {})
        for k, v in counts.items():
            slot[k] = slot.get(k, 0) + v


def _range_text(r) -> str:
    lo, hi = r
    if lo == hi:
        return code_label(lo)
    low = "LO" if lo == -np.inf else code_label(lo)
    high = "HI" if hi == np.inf else code_label(hi)
    return f"{low} thru {high}"  # as SPSS writes ranges


def _preview(values, limit: int = 5) -> str:
    values = [code_label(v) if isinstance(v, float) else str(v) for v in list(values)]
    return ", ".join(values[:limit]) + (
        f", ... ({len(values)} in all)" if len(values) > limit else ""
    )


def _num(x: float) -> str:
    return code_label(float(x))


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
