# Thin: render the report page of every language (neacovid.publish.report).
from pathlib import Path

from neacovid.workflow import reports, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    reports,
    log_file=smk.log[0],
    languages=smk.params.languages,
    figures_manifests=smk.params.figures,
    outputs=smk.params.outputs,
    results_dir=smk.params.results_dir,
    template_dir=str(Path(smk.input.template).parent),
    config=smk.params.config,
    workbooks=smk.params.workbooks,
)
