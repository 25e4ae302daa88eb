# Thin: write the synthetic NEA-like .sav files (neacovid.data.synth).
from neacovid.workflow import run_step, synthesize

run_step(
    synthesize,
    log_file=snakemake.log[0],  # noqa: F821 (injected by Snakemake)
    out_dir=snakemake.params.out_dir,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    scale=snakemake.params.scale,  # noqa: F821
    waves_csv=snakemake.params.waves_csv,  # noqa: F821
)
