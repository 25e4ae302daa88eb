# Analyst notebooks executed with papermill -> results/notebooks/<name>.ipynb and self-contained .html.
from neacovid.publish.notebooks import check_notebooks

NOTEBOOK_DIR = os.path.join(workflow.basedir, "notebooks")
NOTEBOOKS = config["notebooks"]


# Names and parameters against the notebooks, before any job runs.
try:
    check_notebooks(NOTEBOOKS["names"], NOTEBOOKS["parameters"], NOTEBOOK_DIR)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


rule notebook:
    input:
        notebook=os.path.join(NOTEBOOK_DIR, "{name}.ipynb"),
        analysis=f"{RESULTS}/analysis.parquet",
        design_check=DESIGN_CHECK,
    output:
        ipynb=f"{RESULTS}/notebooks/{{name}}.ipynb",
        html=report(f"{RESULTS}/notebooks/{{name}}.html", category="Notebooks"),
    params:
        code=CODE_VERSION,
        design=config["design"],
        ci=config["tables"]["ci"],
        level=config["tables"]["level"],
        disclosure=config["disclosure"],
        overrides=lambda wildcards: NOTEBOOKS["parameters"].get(wildcards.name, {}),
        timeout=NOTEBOOKS["timeout"],
    wildcard_constraints:
        name="|".join(re.escape(n) for n in NOTEBOOKS["names"]) or "(?!)",
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/notebooks/{{name}}.log",
    script:
        "../scripts/notebooks.py"
