# Thin: the tables annex, one workbook per language (neacovid.publish.spreadsheet).
from pathlib import Path

from neacovid.workflow import run_step, spreadsheets

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    spreadsheets,
    log_file=smk.log[0],
    estimate_tables=list(smk.input.tables),
    key_figures=smk.input.key_figures,
    changes=list(smk.input.changes),
    contrasts=smk.input.contrasts,
    did=smk.input.did,
    test=smk.input.test,
    models=list(smk.input.models),
    model_tests=list(smk.input.model_tests),
    attrition=smk.input.attrition,
    attrition_stayers=smk.input.attrition_stayers,
    attrition_model=smk.input.attrition_model,
    attrition_model_tests=smk.input.attrition_model_tests,
    r_indicators=smk.input.r_indicators,
    sensitivity=smk.input.sensitivity,
    sensitivity_key_figures=smk.input.sensitivity_key_figures,
    provenance=smk.input.provenance,
    template_dir=str(Path(smk.input.text).parent),
    config=smk.params.config,
    outputs=smk.params.outputs,
)
