# Thin: the tables annex of one language, one workbook (neacovid.publish.spreadsheet).
from pathlib import Path

from neacovid.workflow import run_step, spreadsheet

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    spreadsheet,
    log_file=smk.log[0],
    estimate_tables=list(smk.input.tables),
    key_figures=smk.input.key_figures,
    changes=list(smk.input.changes),
    contrasts=smk.input.contrasts,
    test=smk.input.test,
    models=list(smk.input.models),
    provenance=smk.input.provenance,
    template_dir=str(Path(smk.input.text).parent),
    language=smk.params.language,
    config=smk.params.config,
    output=smk.output[0],
)
