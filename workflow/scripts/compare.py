# Thin: changes between waves, contrasts, tests on the panel design (neacovid.publish.tables).
from neacovid.workflow import compare, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    compare,
    log_file=smk.log[0],
    analysis=smk.input.analysis,
    design=smk.params.design,
    spec=smk.params.spec,
    level=smk.params.level,
    disclosure=smk.params.disclosure,
    estimate_tables=list(smk.input.tables),
    outputs=dict(smk.output.items()),
)
