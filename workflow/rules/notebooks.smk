# Analyst notebooks executed with papermill -> results/notebooks/<name>.ipynb and self-contained .html.
from neacovid.publish.parameters import check_notebooks

NOTEBOOK_DIR = os.path.join(workflow.basedir, "notebooks")
NOTEBOOKS = config["notebooks"]


# Names and parameters against the notebooks, before any job runs.
try:
    check_notebooks(NOTEBOOKS["names"], NOTEBOOKS["parameters"], NOTEBOOK_DIR)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


rule notebooks:
    input:
        notebooks=expand(os.path.join(NOTEBOOK_DIR, "{name}.ipynb"), name=NOTEBOOKS["names"]),
        analysis=f"{RESULTS}/analysis.parquet",
        design_check=DESIGN_CHECK,
    output:
        # Every notebook in one job: one process start for all of them.
        ipynb=expand(f"{RESULTS}/notebooks/{{name}}.ipynb", name=NOTEBOOKS["names"]),
        html=report(
            expand(f"{RESULTS}/notebooks/{{name}}.html", name=NOTEBOOKS["names"]),
            category="Notebooks",
        ),
    params:
        code=CODE_VERSION,
        names=NOTEBOOKS["names"],
        out_dir=lambda wildcards, output: os.path.dirname(output.ipynb[0]),
        design=config["design"],
        ci=config["tables"]["ci"],
        level=config["tables"]["level"],
        disclosure=config["disclosure"],
        overrides=NOTEBOOKS["parameters"],
        timeout=NOTEBOOKS["timeout"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/notebooks.log",
    script:
        "../scripts/notebooks.py"
