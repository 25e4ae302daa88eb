# Config validation and the helpers every rule file uses.
import os
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

from neacovid.data.config import check_paths, check_waves, input_waves, validate_config
from neacovid.errors import ConfigError
from neacovid.publish.provenance import git_state
from neacovid.publish.spreadsheet import workbook_names

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

RESULTS = config["results_dir"]
DATA = config["data"]
SYNTHETIC = DATA["source"] == "synthetic"
LOGS = f"{RESULTS}/logs"


try:
    ALL_WAVES = check_waves(config)
    check_paths(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None
GIT_STATE = git_state(Path(workflow.basedir))


def _code_version():
    """A hash of the library's code: every rule has it as a param, so a change
    in src/neacovid reruns the rules (Snakemake itself watches only scripts)."""
    import hashlib

    digest = hashlib.sha256()
    package = Path(workflow.basedir, "src", "neacovid")
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


CODE_VERSION = _code_version()
LANGUAGES = list(config["report"]["languages"])
WAVES = [str(w) for w in DATA["waves"]]
READ_WAVES = input_waves(config)  # the analysed waves and the baseline
BASELINE = None if DATA["baseline"] is None else str(DATA["baseline"])
# The baseline's harmonised file, when the run does not analyse that wave itself.
BASELINE_INPUT = (
    [f"{RESULTS}/harmonized/{BASELINE}.parquet"]
    if BASELINE is not None and BASELINE not in WAVES
    else []
)


wildcard_constraints:
    wave="|".join(re.escape(w) for w in ALL_WAVES),


def wave_path(wave):
    if SYNTHETIC:
        return f"{DATA['synthetic_dir']}/{wave}.sav"
    return DATA["files"][wave]


def table_names():
    from neacovid.publish.tables import DERIVED_FROM, table_specs

    tables = config["tables"]
    specs = table_specs(
        tables["shares"], tables["means"], tables["breakdowns"], DERIVED_FROM
    )
    return [spec.name for spec in specs]


COMPARE_OUTPUTS = {
    "changes_vs_base": f"{RESULTS}/tables/changes_vs_{config['compare']['base']}.csv",
    "changes_consecutive": f"{RESULTS}/tables/changes_consecutive.csv",
    "contrasts": f"{RESULTS}/tables/contrasts.csv",
    "did": f"{RESULTS}/tables/did.csv",
    "test": f"{RESULTS}/tables/tests_location_by_age.csv",
}

ATTRITION_OUTPUTS = {
    "retention": f"{RESULTS}/tables/attrition.csv",
    "stayers": f"{RESULTS}/tables/attrition_stayers.csv",
    "model": f"{RESULTS}/tables/attrition_model.csv",
    "model_tests": f"{RESULTS}/tables/attrition_model_tests.csv",
    "r_indicators": f"{RESULTS}/tables/r_indicators.csv",
    "sensitivity": f"{RESULTS}/tables/sensitivity_attrition.csv",
    "sensitivity_key_figures": f"{RESULTS}/tables/sensitivity_key_figures.csv",
}


# Written once every design is bound to the analysis data; estimation rules wait for it.
DESIGN_CHECK = f"{RESULTS}/design_check.json"

MODEL_OUTPUTS = {
    f"{indicator}_{kind}": f"{RESULTS}/models/{indicator}_{kind}.csv"
    for indicator in config["models"]["indicators"]
    for kind in ("logit", "tests")
}


# The tables annex: one workbook per report language (tabellen.xlsx, tables.xlsx).
try:
    ANNEX = {
        lang: f"{RESULTS}/tables/{name}"
        for lang, name in workbook_names(config["report"]["languages"]).items()
    }
except ConfigError as err:
    raise WorkflowError(str(err)) from None


def all_outputs():
    return [
        f"{RESULTS}/analysis.parquet",
        *expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
        f"{RESULTS}/tables/kerncijfers.csv",
        *COMPARE_OUTPUTS.values(),
        *ATTRITION_OUTPUTS.values(),
        *MODEL_OUTPUTS.values(),
        f"{RESULTS}/output_check.csv",
        f"{RESULTS}/provenance.json",
        *expand(f"{RESULTS}/report/{{lang}}/index.html", lang=config["report"]["languages"]),
        *ANNEX.values(),
        *expand(f"{RESULTS}/figures/{{lang}}/figures.json", lang=config["report"]["languages"]),
        *expand(
            f"{RESULTS}/notebooks/{{name}}.{{ext}}",
            name=config["notebooks"]["names"],
            ext=["ipynb", "html"],
        ),
    ]
