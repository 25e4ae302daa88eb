# Thin: run one analyst notebook with papermill, export it to HTML (neacovid.publish.notebooks).
from neacovid.workflow import notebook, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
run_step(
    notebook,
    log_file=smk.log[0],
    notebook=smk.input.notebook,
    analysis=smk.input.analysis,
    design=p.design,
    ci=p.ci,
    level=p.level,
    disclosure=p.disclosure,
    overrides=p.overrides,
    timeout=p.timeout,
    ipynb=smk.output.ipynb,
    html=smk.output.html,
)
