# nea-covid: NEA COVID-19 microdata -> harmonised panel -> weighted tables -> report.
# Entry point only: the config, its validation and the rules live in workflow/.
import os

from snakemake.utils import min_version

min_version("9.0")

# One BLAS thread per job: Snakemake already runs jobs side by side on the cores, and
# threaded BLAS on top of that oversubscribes them (on 2 cores the attrition step took
# 19 s of CPU instead of 11). Single-threaded BLAS also sums in one fixed order.
for _blas in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_blas, "1")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/estimate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/notebooks.smk"


rule all:
    input:
        all_outputs(),
