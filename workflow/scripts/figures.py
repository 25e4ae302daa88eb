# Thin: the report figures of every language and their manifests (neacovid.publish.figures).
from neacovid.workflow import figures_all_languages, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    figures_all_languages,
    log_file=smk.log[0],
    location_table=smk.input.location,
    location_tables=list(smk.input.by_location),
    age_group_tables=list(smk.input.by_age_group),
    key_figures=smk.input.key_figures,
    changes=smk.input.changes,
    languages=smk.params.languages,
    data_source=smk.params.source,
    manifests=smk.params.manifests,
    reference_wave=smk.params.reference_wave,
    highlight_age_group=smk.params.highlight_age_group,
    alpha=smk.params.alpha,
)
