# Thin: stack the harmonised waves and derive the indicators (neacovid.data.indicators).
from neacovid.workflow import indicators, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    indicators,
    log_file=smk.log[0],
    harmonized=list(smk.input.harmonized),
    spec=smk.params.spec,
    output=smk.output.analysis,
    baseline=smk.params.baseline,
    baseline_file=smk.input.baseline[0] if smk.input.baseline else None,
    design=smk.params.design,
    design_check=smk.output.design_check,
)
