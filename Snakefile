# nea-covid: NEA COVID-19 microdata -> harmonised panel -> weighted tables -> report.
# Entry point only: the config, its validation and the rules live in workflow/.
from snakemake.utils import min_version

min_version("9.0")


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
