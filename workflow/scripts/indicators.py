# Thin: stack the harmonised waves and derive the indicators (neacovid.data.indicators).
from neacovid.workflow import indicators, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    indicators,
    log_file=smk.log[0],
    harmonized=list(smk.input),
    spec=smk.params.spec,
    output=smk.output[0],
)
