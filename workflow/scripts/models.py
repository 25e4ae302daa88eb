# Thin: adjusted logistic regressions per indicator (neacovid.publish.tables.model_table).
from neacovid.workflow import models, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    models,
    log_file=smk.log[0],
    analysis=smk.input[0],
    design=smk.params.design,
    covariates=smk.params.covariates,
    references=smk.params.references,
    level=smk.params.level,
    disclosure=smk.params.disclosure,
    outputs=dict(smk.output.items()),
)
