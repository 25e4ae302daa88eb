# Thin: render the report page of one language (neacovid.report).
from pathlib import Path

from neacovid.pipeline import report, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    report,
    log_file=smk.log[0],
    key_figures_csv=smk.input.key_figures,
    audits=list(smk.input.audits),
    template_dir=str(Path(smk.input.template).parent),
    language=smk.wildcards.lang,
    data_source=smk.params.source,
    config=smk.params.config,
    output=smk.output[0],
)
