"""Provenance of a run: inputs with SHA-256 and rows, config, versions, git state.

Nothing time-dependent goes in (no timestamps, no host names), so two runs
with the same inputs, config and code write the same bytes.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "neacovid",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "pyreadstat",
    "statsmodels",
    "snakemake",
    "plotnine",
    "matplotlib",
    "jinja2",
    "papermill",
    "xlsxwriter",
)


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def git_state(repo: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "clean": None}
    # Generated files are ignored by git, so a clean tree means clean code and config.
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "clean": status == ""}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(
    audits: Sequence[Mapping], config: Mapping, repo: Path, references: Sequence[str] = ()
) -> dict:
    """``references``: other input files (codebook, published figures, waves)."""
    inputs = [
        {
            "wave": audit["wave"],
            "file": audit["file"],
            "sha256": sha256(audit["file"]),
            "rows_read": audit["rows_read"],
            "rows_kept": audit["rows_kept"],
            "rows_excluded": dict(audit["rows_excluded"]),
            # values set missing: impossible numbers, codes the codebook does not map
            "values_out_of_range": dict(audit.get("out_of_range", {})),
            "codes_not_mapped": dict(audit.get("unmapped_codes", {})),
        }
        for audit in audits
    ]
    return {
        "inputs": inputs,
        "totals": {key: sum(i[key] for i in inputs) for key in ("rows_read", "rows_kept")}
        | {"rows_excluded": sum(sum(i["rows_excluded"].values()) for i in inputs)},
        "references": [{"file": str(p), "sha256": sha256(p)} for p in references],
        "config": dict(config),
        "packages": package_versions(),
        "git": git_state(repo),
    }
