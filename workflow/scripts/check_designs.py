# Thin: bind every design to the analysis data before any estimate (neacovid.workflow).
from neacovid.workflow import check_designs, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(check_designs, log_file=smk.log[0], analysis=smk.input[0],
         designs=smk.params.designs, output=smk.output[0])
