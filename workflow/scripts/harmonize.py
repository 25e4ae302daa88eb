# Thin: one wave's file -> common schema + audit (neacovid.data.harmonize).
from neacovid.workflow import harmonize, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    harmonize,
    log_file=smk.log[0],
    data_file=smk.input.data,
    wave=smk.wildcards.wave,
    codebook=smk.input.codebook,
    strict=smk.params.strict,
    parquet=smk.output.parquet,
    audit=smk.output.audit,
)
