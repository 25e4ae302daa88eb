# Thin: every wave's file -> common schema + audit (neacovid.data.harmonize).
from pathlib import Path

from neacovid.workflow import harmonize_waves, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
files = smk.params.files
run_step(
    harmonize_waves,
    log_file=smk.log[0],
    files=files,
    codebook=smk.input.codebook,
    strict=smk.params.strict,
    parquets={w: p for w in files for p in smk.output.parquet if Path(p).stem == w},
    audits={w: p for w in files for p in smk.output.audit if Path(p).name == f"{w}.audit.json"},
)
