# Provenance of the run, the tables annex (one workbook per language) and the
# self-contained policy report, one HTML file per language.


rule provenance:
    input:
        audits=expand(f"{RESULTS}/harmonized/{{wave}}.audit.json", wave=READ_WAVES),
        data=expand(f"{RESULTS}/harmonized/{{wave}}.parquet", wave=READ_WAVES),
        references=[DATA["codebook"], DATA["waves_csv"], config["key_figures"]["published"]],
    output:
        f"{RESULTS}/provenance.json",
    params:
        code=CODE_VERSION,
        config=config,
        # A new commit or local edits make a new provenance record.
        git=GIT_STATE,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/provenance.log",
    script:
        "../scripts/provenance.py"


rule spreadsheet:
    priority: 20  # as attrition: off the tail of the run
    input:
        key_figures=f"{RESULTS}/tables/kerncijfers.csv",
        tables=expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
        changes=[COMPARE_OUTPUTS["changes_vs_base"], COMPARE_OUTPUTS["changes_consecutive"]],
        contrasts=COMPARE_OUTPUTS["contrasts"],
        did=COMPARE_OUTPUTS["did"],
        test=COMPARE_OUTPUTS["test"],
        models=[MODEL_OUTPUTS[f"{i}_logit"] for i in config["models"]["indicators"]],
        model_tests=[MODEL_OUTPUTS[f"{i}_tests"] for i in config["models"]["indicators"]],
        attrition=ATTRITION_OUTPUTS["retention"],
        attrition_stayers=ATTRITION_OUTPUTS["stayers"],
        attrition_model=ATTRITION_OUTPUTS["model"],
        attrition_model_tests=ATTRITION_OUTPUTS["model_tests"],
        r_indicators=ATTRITION_OUTPUTS["r_indicators"],
        sensitivity=ATTRITION_OUTPUTS["sensitivity"],
        sensitivity_key_figures=ATTRITION_OUTPUTS["sensitivity_key_figures"],
        provenance=f"{RESULTS}/provenance.json",
        text=os.path.join(workflow.basedir, "workflow/templates/spreadsheet_text.yaml"),
    output:
        # Every language's workbook in one job: one process start.
        report(
            list(ANNEX.values()),
            caption="../report/spreadsheet.rst",
            category="Tables annex",
        ),
    params:
        code=CODE_VERSION,
        outputs=lambda wildcards, output: dict(zip(ANNEX, output, strict=True)),
        config={
            key: config[key]
            for key in (
                "data", "design", "tables", "disclosure", "compare", "models", "attrition",
                "report",
            )
        },
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/spreadsheet.log",
    script:
        "../scripts/spreadsheet.py"


rule report:
    input:
        key_figures=f"{RESULTS}/tables/kerncijfers.csv",
        tables=expand(f"{RESULTS}/tables/{{name}}.csv", name=table_names()),
        compare=list(COMPARE_OUTPUTS.values()),
        attrition=list(ATTRITION_OUTPUTS.values()),
        models=list(MODEL_OUTPUTS.values()),
        output_check=f"{RESULTS}/output_check.csv",
        provenance=f"{RESULTS}/provenance.json",
        # fieldwork dates: how much older the panel is in each wave
        waves=DATA["waves_csv"],
        figures=expand(f"{RESULTS}/figures/{{lang}}/figures.json", lang=LANGUAGES),
        template=os.path.join(workflow.basedir, "workflow/templates/report.html.j2"),
        text=os.path.join(workflow.basedir, "workflow/templates/report_text.yaml"),
        workbooks=[ANNEX[lang] for lang in LANGUAGES],
    output:
        # Every language in one job.
        report(
            expand(f"{RESULTS}/report/{{lang}}/index.html", lang=LANGUAGES),
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        code=CODE_VERSION,
        languages=LANGUAGES,
        figures=lambda wildcards, input: dict(zip(LANGUAGES, input.figures, strict=True)),
        outputs=lambda wildcards, output: dict(zip(LANGUAGES, output, strict=True)),
        workbooks=lambda wildcards, input: dict(zip(LANGUAGES, input.workbooks, strict=True)),
        # <results>/report/<lang>/index.html -> <results>
        results_dir=lambda wildcards, output: os.path.dirname(
            os.path.dirname(os.path.dirname(output[0]))
        ),
        config=config,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/report.log",
    script:
        "../scripts/report.py"
