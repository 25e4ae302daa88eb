# Thin: every indicator by wave x breakdown (neacovid.publish.tables), then the
# published figures against this run's estimates (neacovid.publish.keyfigures).
from neacovid.workflow import run_step, tables_and_key_figures

smk = snakemake  # noqa: F821 (injected by Snakemake)
spec = smk.params.tables
run_step(
    tables_and_key_figures,
    log_file=smk.log[0],
    analysis=smk.input.analysis,
    published=smk.input.published,
    design=smk.params.design,
    share_indicators=spec["shares"],
    mean_indicators=spec["means"],
    breakdowns=spec["breakdowns"],
    populations=smk.params.populations,
    ci=spec["ci"],
    level=spec["level"],
    disclosure=smk.params.disclosure,
    outputs=list(smk.output.tables),
    key_figures_output=smk.output.key_figures,
)
