# The self-contained policy report, one HTML file per language.


rule report:
    input:
        key_figures=f"{RESULTS}/tables/kerncijfers.csv",
        audits=expand(f"{RESULTS}/harmonized/{{wave}}.audit.json", wave=WAVES),
        template=os.path.join(workflow.basedir, "workflow/templates/report.html.j2"),
    output:
        report(
            f"{RESULTS}/report/{{lang}}/index.html",
            caption="../report/report.rst",
            category="Report",
        ),
    params:
        source=DATA["source"],
        config=config,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/report_{{lang}}.log",
    script:
        "../scripts/report.py"
