# Report figures (plotnine): per language, every figure as SVG and 300-dpi PNG, and
# figures.json with each figure's title, caption and alt text for the report.
# The change-vs-base forest plots come from the compare rule's changes_vs_<base>.csv.
from neacovid.publish.catalog import FIGURE_NAMES

FIGURES = config["figures"]
FIGURE_TABLES = {
    breakdown: [f"{indicator}_by_{breakdown}" for indicator in FIGURES["indicators"]]
    for breakdown in ("location", "age_group")
}
_missing_tables = sorted(
    {"location_by_wave", *FIGURE_TABLES["location"], *FIGURE_TABLES["age_group"]}
    - set(table_names())
)
if _missing_tables:
    raise WorkflowError(
        f"config.yaml figures: the figures need table {_missing_tables[0]}.csv, which "
        "tables: does not make; list location and figures.indicators in tables.shares "
        "and location and age_group in tables.breakdowns"
    )


rule figures:
    # early: compare -> figures -> report is the longest chain
    priority: 25
    input:
        location=f"{RESULTS}/tables/location_by_wave.csv",
        by_location=expand(f"{RESULTS}/tables/{{name}}.csv", name=FIGURE_TABLES["location"]),
        by_age_group=expand(f"{RESULTS}/tables/{{name}}.csv", name=FIGURE_TABLES["age_group"]),
        key_figures=f"{RESULTS}/tables/kerncijfers.csv",
        changes=COMPARE_OUTPUTS["changes_vs_base"],
        text=os.path.join(workflow.basedir, "workflow/templates/figures_text.yaml"),
    output:
        # Every language in one job: one start of plotnine, one reading of the tables
        # (two jobs side by side took more CPU and ended later on two busy cores).
        svg=report(
            expand(f"{RESULTS}/figures/{{lang}}/{{name}}.svg", lang=LANGUAGES,
                   name=FIGURE_NAMES),
            caption="../report/figures.rst",
            category="Figures",
        ),
        png=expand(f"{RESULTS}/figures/{{lang}}/{{name}}.png", lang=LANGUAGES,
                   name=FIGURE_NAMES),
        manifest=expand(f"{RESULTS}/figures/{{lang}}/figures.json", lang=LANGUAGES),
    params:
        code=CODE_VERSION,
        languages=LANGUAGES,
        manifests=lambda wildcards, output: dict(zip(LANGUAGES, output.manifest, strict=True)),
        source=DATA["source"],
        reference_wave=FIGURES["reference_wave"],
        highlight_age_group=FIGURES["highlight_age_group"],
        alpha=config["compare"]["alpha"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/figures.log",
    script:
        "../scripts/figures.py"
