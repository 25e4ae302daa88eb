# Thin: render the report page of one language (neacovid.publish.report).
from pathlib import Path

from neacovid.workflow import report, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    report,
    log_file=smk.log[0],
    results_dir=smk.params.results_dir,
    template_dir=str(Path(smk.input.template).parent),
    figures_manifest=smk.input.figures,
    language=smk.wildcards.lang,
    config=smk.params.config,
    output=smk.output[0],
    workbook=smk.input.workbook,
)
