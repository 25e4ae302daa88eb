# Thin: the report figures of one language and their manifest (neacovid.publish.figures).
from neacovid.workflow import figures, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    figures,
    log_file=smk.log[0],
    location_table=smk.input.location,
    location_tables=list(smk.input.by_location),
    age_group_tables=list(smk.input.by_age_group),
    key_figures=smk.input.key_figures,
    changes=smk.input.changes,
    language=smk.wildcards.lang,
    data_source=smk.params.source,
    out_dir=smk.params.out_dir,
    manifest=smk.output.manifest,
    reference_wave=smk.params.reference_wave,
    highlight_age_group=smk.params.highlight_age_group,
    alpha=smk.params.alpha,
)
