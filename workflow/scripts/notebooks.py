# Thin: execute one analyst notebook with papermill and export it to HTML (neacovid.notebooks).
from neacovid.notebooks import pipeline_parameters, render
from neacovid.pipeline import run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
run_step(
    render,
    log_file=smk.log[0],
    notebook=smk.input.notebook,
    ipynb=smk.output.ipynb,
    html=smk.output.html,
    parameters=pipeline_parameters(smk.input.analysis, p.design, p.ci, p.level, p.disclosure),
    overrides=p.overrides,
    timeout=p.timeout,
)
