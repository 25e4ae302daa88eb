"""What the publish layer makes, by name: constants the workflow plans its jobs with,
importable without plotnine or Jupyter (Snakemake reads them on every start)."""

# The report's figures, in the order of the report (neacovid.publish.figures).
FIGURE_NAMES = (
    "location_by_wave",
    "indicators_by_location",
    "indicators_by_age_group",
    "changes",
    "changes_by_location",
    "key_figures",
)
