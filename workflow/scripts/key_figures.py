# Thin: published figures vs this run's estimates (neacovid.publish.keyfigures).
from neacovid.workflow import key_figures, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    key_figures,
    log_file=smk.log[0],
    analysis=smk.input.analysis,
    published=smk.input.published,
    design=smk.params.design,
    populations=smk.params.populations,
    ci=smk.params.ci,
    level=smk.params.level,
    disclosure=smk.params.disclosure,
    estimate_tables=list(smk.input.tables),
    output=smk.output[0],
)
