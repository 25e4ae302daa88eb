# Thin: inputs (SHA-256, rows), config, package versions, git state (neacovid.publish.provenance).
from neacovid.workflow import provenance, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_step(
    provenance,
    log_file=smk.log[0],
    audits=list(smk.input.audits),
    references=list(smk.input.references),
    config=smk.params.config,
    output=smk.output[0],
)
