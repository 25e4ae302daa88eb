# Thin: bind the run's design to the analysis data before any estimate (neacovid.workflow).
from neacovid.workflow import check_design, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(check_design, log_file=smk.log[0], analysis=smk.input[0],
         design=smk.params.design, output=smk.output[0])
