# Thin: every suppressed or indicative cell of every table (neacovid.disclosure).
from neacovid.pipeline import output_check, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(output_check, log_file=smk.log[0], tables=list(smk.input), output=smk.output[0])
