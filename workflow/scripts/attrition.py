# Thin: who stayed in the panel, and the attrition sensitivity analysis
# (neacovid.publish.attrition).
from neacovid.workflow import attrition, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    attrition,
    log_file=smk.log[0],
    analysis=smk.input.analysis,
    design=smk.params.design,
    baseline=smk.params.baseline,
    spec=smk.params.spec,
    level=smk.params.level,
    alpha=smk.params.alpha,
    disclosure=smk.params.disclosure,
    key_figures={
        "published": smk.input.published,
        "populations": smk.params.populations,
        "ci": smk.params.ci,
    },
    estimate_tables=list(smk.input.tables),
    outputs=dict(smk.output.items()),
)
