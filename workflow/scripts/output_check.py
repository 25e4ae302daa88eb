# Thin: every suppressed or indicative cell of every table (neacovid.publish.disclosure).
from neacovid.workflow import output_check, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(output_check, log_file=smk.log[0], tables=list(smk.input), output=smk.output[0])
