# Thin: every indicator by wave x breakdown (neacovid.publish.tables).
from neacovid.workflow import run_step, tables

smk = snakemake  # noqa: F821 (injected by Snakemake)
spec = smk.params.tables
run_step(
    tables,
    log_file=smk.log[0],
    analysis=smk.input[0],
    design=smk.params.design,
    share_indicators=spec["shares"],
    mean_indicators=spec["means"],
    breakdowns=spec["breakdowns"],
    outputs=list(smk.output),
    ci=spec["ci"],
    level=spec["level"],
    disclosure=smk.params.disclosure,
)
