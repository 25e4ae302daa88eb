# Thin: adjusted logistic regressions per indicator and wave (neacovid.publish.tables).
from neacovid.workflow import models, run_step

smk = snakemake  # noqa: F821 (injected by Snakemake)
outputs = {
    indicator: {
        "coefficients": smk.output[f"{indicator}_logit"],
        "tests": smk.output[f"{indicator}_tests"],
    }
    for indicator in smk.params.spec["indicators"]
}
run_step(
    models,
    log_file=smk.log[0],
    analysis=smk.input[0],
    design=smk.params.design,
    spec=smk.params.spec,
    level=smk.params.level,
    alpha=smk.params.alpha,
    disclosure=smk.params.disclosure,
    outputs=outputs,
)
