# Weighted tables by wave x breakdown and the published key figures.


rule tables:
    input:
        analysis=f"{RESULTS}/analysis.parquet",
        design_check=DESIGN_CHECK,
        published=config["key_figures"]["published"],
    output:
        # The estimate tables and then the key figures (which hide what the tables
        # hide) in one job: one process start.
        tables=report(
            expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
            caption="../report/tables.rst",
            category="Tables",
        ),
        key_figures=report(
            f"{RESULTS}/tables/kerncijfers.csv",
            caption="../report/kerncijfers.rst",
            category="Key figures",
        ),
    params:
        code=CODE_VERSION,
        design=config["design"],
        tables=config["tables"],
        populations=config["key_figures"]["populations"],
        disclosure=config["disclosure"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/tables.log",
    script:
        "../scripts/tables.py"


rule compare:
    # first when cores are free: compare -> figures -> report is the longest chain
    priority: 30
    input:
        analysis=f"{RESULTS}/analysis.parquet",
        design_check=DESIGN_CHECK,
        tables=expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
    output:
        **{
            name: report(path, caption="../report/compare.rst", category="Comparisons")
            for name, path in COMPARE_OUTPUTS.items()
        },
    params:
        code=CODE_VERSION,
        design=config["design"],
        spec=config["compare"],
        level=config["tables"]["level"],
        disclosure=config["disclosure"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/compare.log",
    script:
        "../scripts/compare.py"


rule output_check:
    input:
        expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
        f"{RESULTS}/tables/kerncijfers.csv",
        *COMPARE_OUTPUTS.values(),
        *ATTRITION_OUTPUTS.values(),
        *MODEL_OUTPUTS.values(),
    output:
        report(
            f"{RESULTS}/output_check.csv",
            caption="../report/output_check.rst",
            category="Output check",
        ),
    params:
        code=CODE_VERSION,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/output_check.log",
    script:
        "../scripts/output_check.py"


rule models:
    input:
        f"{RESULTS}/analysis.parquet",
        DESIGN_CHECK,
    output:
        **{
            name: report(path, caption="../report/models.rst", category="Models")
            for name, path in MODEL_OUTPUTS.items()
        },
    params:
        code=CODE_VERSION,
        design=config["design"],
        spec=config["models"],
        level=config["tables"]["level"],
        alpha=config["compare"]["alpha"],
        disclosure=config["disclosure"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/models.log",
    script:
        "../scripts/models.py"


rule attrition:
    # the annex waits for it, and the report for the annex: started before the figures
    # and notebooks, it leaves them, not itself, to share the last seconds of the run
    priority: 20
    input:
        analysis=f"{RESULTS}/analysis.parquet",
        design_check=DESIGN_CHECK,
        # the key figures hide what the estimate tables hide
        tables=expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
        published=config["key_figures"]["published"],
    output:
        **{
            name: report(path, caption="../report/attrition.rst", category="Attrition")
            for name, path in ATTRITION_OUTPUTS.items()
        },
    params:
        code=CODE_VERSION,
        design=config["design"],
        baseline=BASELINE,
        spec=config["attrition"],
        level=config["tables"]["level"],
        alpha=config["compare"]["alpha"],
        disclosure=config["disclosure"],
        populations=config["key_figures"]["populations"],
        ci=config["tables"]["ci"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/attrition.log",
    script:
        "../scripts/attrition.py"
