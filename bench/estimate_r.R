# R survey side of bench/estimate.py: time svydesign() + svyby(svyciprop) on a CSV.
#
# Usage: Rscript bench/estimate_r.R <data.csv> <strat|cluster> <estimates-out.csv>
# Prints "key=value" lines (versions, reader, elapsed seconds) for the Python script.
# Only the estimation is timed: reading the CSV is excluded on purpose, because
# the Python side times an in-memory data frame as well.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3) stop("usage: estimate_r.R <data.csv> <strat|cluster> <out.csv>")
suppressPackageStartupMessages(library(survey))

if (requireNamespace("data.table", quietly = TRUE)) {
  reader <- paste0("data.table::fread ", packageVersion("data.table"))
  d <- as.data.frame(data.table::fread(args[1]))
} else {
  reader <- "read.csv"
  d <- read.csv(args[1])
}

ids <- if (args[2] == "cluster") ~psu else ~1
invisible(gc())
timing <- system.time({
  des <- svydesign(ids = ids, strata = ~stratum, weights = ~w, data = d)
  res <- svyby(~y, ~wave + age, des, svyciprop, method = "logit", vartype = c("se", "ci"))
})

out <- data.frame(
  wave = res$wave,
  age = res$age,
  estimate = as.numeric(coef(res)),
  se = as.numeric(SE(res)),
  ci_low = res$ci_l,
  ci_high = res$ci_u
)
write.csv(out, args[3], row.names = FALSE)

cat("r_version=", R.version.string, "\n", sep = "")
cat("survey_version=", as.character(packageVersion("survey")), "\n", sep = "")
cat("reader=", reader, "\n", sep = "")
cat("rows=", nrow(d), "\n", sep = "")
cat("elapsed=", format(timing[["elapsed"]], digits = 6), "\n", sep = "")
