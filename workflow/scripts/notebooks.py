# Thin: run the analyst notebooks with papermill, export them to HTML
# (neacovid.publish.notebooks).
from pathlib import Path

from neacovid.workflow import notebooks, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
p = smk.params
run_step(
    notebooks,
    log_file=smk.log[0],
    notebook_dir=str(Path(smk.input.notebooks[0]).parent),
    names=p.names,
    analysis=smk.input.analysis,
    design=p.design,
    ci=p.ci,
    level=p.level,
    disclosure=p.disclosure,
    overrides=p.overrides,
    timeout=p.timeout,
    out_dir=p.out_dir,
)
