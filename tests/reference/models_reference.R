# Reference numbers for neacovid.survey.models.logit, computed with R survey's
# svyglm(family = quasibinomial()).
#
# Run from the repository root:
#     Rscript tests/reference/models_reference.R
#
# Writes tests/reference/data/models.csv (synthetic stratified cluster sample
# with factors and missing values) and tests/reference/models_reference.csv.
# Reads tests/reference/data/{apistrat,apiclus1}.csv (written by
# survey_reference.R), so that R and Python see the same numbers.
#
# Conventions that the Python side mirrors:
# * Factor levels are sorted in C-locale (byte) order, as patsy/formulaic
#   sort them; with treatment contrasts the first level is the reference.
#   R names a coefficient `locationhybrid` where patsy says
#   `C(location)[T.hybrid]`: the test maps the names.
# * Every case is fitted twice: with glm's default convergence
#   (epsilon = 1e-8, control = "default") and with a tight one
#   (epsilon = 1e-13, control = "tight"). The default stops up to ~1e-8 away
#   from the maximum, and svyglm's sandwich uses the working weights of the
#   iteration before the last, so its SEs can be ~1e-6 (relative) off the
#   converged ones; the tight fit is the reference for the 1e-9 / 1e-6
#   tolerances, the default one documents how far R's defaults are.
# * Rows with a missing model variable are dropped by glm and svyglm then
#   uses design[-nas, ] (full-design PSU counts kept); df = df.residual =
#   degf(design[-nas, ]) + 1 - number of coefficients.
# * CI: confint() (Wald, t with df.residual), exponentiated. p: summary().
#   p_holm: p.adjust(method = "holm") over the non-intercept coefficients.

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root")
}
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

CONTROLS <- list(default = glm.control(), tight = glm.control(epsilon = 1e-13, maxit = 100))

# ---------------------------------------------------------------------------
# Synthetic stratified cluster sample with factors and missing values
# ---------------------------------------------------------------------------

set.seed(20261201)

make_models_data <- function() {
  n_psu <- c(s1 = 2, s2 = 3, s3 = 3, s4 = 4, s5 = 5, s6 = 6, s7 = 4, s8 = 3, s9 = 1)
  base_w <- c(s1 = 20, s2 = 35, s3 = 50, s4 = 80, s5 = 120, s6 = 150, s7 = 60, s8 = 90,
              s9 = 40)
  strat_eff <- c(s1 = -0.5, s2 = -0.2, s3 = 0, s4 = 0.3, s5 = 0.5, s6 = -0.1, s7 = 0.2,
                 s8 = -0.3, s9 = 0.4)
  age_levels <- c("15-24", "25-34", "35-44", "45-54", "55-64")
  age_eff <- c(-0.3, 0, 0.2, 0.35, 0.1)
  rows <- list()
  for (h in names(n_psu)) {
    for (j in seq_len(n_psu[[h]])) {
      m <- sample(12:30, 1)
      u <- rnorm(1, 0, 0.5)  # PSU effect: the outcome is clustered
      location <- sample(c("home", "hybrid", "office"), m, replace = TRUE,
                         prob = c(0.3, 0.3, 0.4))
      age <- sample(age_levels, m, replace = TRUE)
      wave <- sample(1:3, m, replace = TRUE)
      female <- rbinom(m, 1, 0.5)
      hours <- round(rnorm(m, 36, 6), 1)
      eta <- -1 + 0.2 * (location == "hybrid") + 0.5 * (location == "office") +
        age_eff[match(age, age_levels)] + 0.15 * (wave - 1) + 0.04 * (hours - 36) +
        0.25 * female + strat_eff[[h]] + u
      rows[[length(rows) + 1]] <- data.frame(
        stratum = h,
        psu = sprintf("%s_p%d", h, j),
        N_psu = 4L * as.integer(n_psu[[h]]),
        w = round(base_w[[h]] * exp(rnorm(m, 0, 0.4)), 3),
        location = location, age_group = age, wave = wave, female = female,
        hours = hours, burnout = rbinom(m, 1, plogis(eta)),
        stringsAsFactors = FALSE
      )
    }
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$location[runif(n) < 0.04] <- NA
  d$hours[runif(n) < 0.03] <- NA
  d$burnout[runif(n) < 0.05] <- NA
  # A PSU without complete rows (a zero total in its stratum) ...
  d$burnout[d$psu == "s4_p2"] <- NA
  # ... a stratum where only one PSU has complete rows (lonely in the fit,
  # not in the design: centred at the stratum mean with the zero totals) ...
  d$burnout[d$stratum == "s7" & d$psu != "s7_p3"] <- NA
  # ... and a stratum without complete rows (it drops out of degf).
  d$hours[d$stratum == "s8"] <- NA
  d
}

write_data <- function(d, stem) {
  path <- file.path(data_dir, paste0(stem, ".csv"))
  write.csv(d, path, row.names = FALSE, na = "")
  read.csv(path, stringsAsFactors = FALSE, na.strings = "")
}

read_data <- function(stem) {
  read.csv(file.path(data_dir, paste0(stem, ".csv")), stringsAsFactors = FALSE,
           na.strings = "")
}

models <- write_data(make_models_data(), "models")
apistrat <- read_data("apistrat")
apiclus1 <- read_data("apiclus1")

# C-locale sorted factor levels, as Python sorts strings (and numbers).
as_factors <- function(d, cols) {
  for (col in cols) {
    values <- unique(d[[col]][!is.na(d[[col]])])
    d[[col]] <- factor(d[[col]], levels = sort(values, method = "radix"))
  }
  d
}

DATA <- list(
  models = as_factors(models, c("location", "age_group", "wave")),
  models_nolonely = as_factors(models[models$stratum != "s9", ],
                               c("location", "age_group", "wave")),
  apistrat = as_factors(apistrat, c("stype", "awards")),
  apiclus1 = as_factors(apiclus1, c("stype"))
)

spec <- function(data, weight, strata = "", psu = "", fpc = "", lonely = "") {
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc,
       lonely = lonely)
}

build_design <- function(sp) {
  d <- DATA[[sp$data]]
  svydesign(
    ids = if (nzchar(sp$psu)) reformulate(sp$psu) else ~1,
    strata = if (nzchar(sp$strata)) reformulate(sp$strata) else NULL,
    weights = reformulate(sp$weight),
    fpc = if (nzchar(sp$fpc)) reformulate(sp$fpc) else NULL,
    data = d
  )
}

# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

rows <- list()
warnings_seen <- character(0)

run_case <- function(case, sp, py_formula, r_formula, level = 0.95) {
  des <- build_design(sp)
  old <- options(survey.lonely.psu = if (nzchar(sp$lonely)) sp$lonely else "fail")
  on.exit(options(old))
  for (control in names(CONTROLS)) {
    # svyglm evaluates glm()'s arguments in its own frame: inline the values.
    m <- withCallingHandlers(
      eval(bquote(svyglm(.(as.formula(r_formula)), design = des,
                         family = quasibinomial(), control = .(CONTROLS[[control]])))),
      warning = function(w) {
        warnings_seen <<- c(warnings_seen, paste0(case, ": ", conditionMessage(w)))
        invokeRestart("muffleWarning")
      })
    stopifnot(m$converged)
    s <- summary(m)
    b <- coef(m)
    ci <- exp(confint(m, level = level))
    p <- s$coefficients[, 4]
    effect <- names(b) != "(Intercept)"
    p_holm <- rep(NA_real_, length(b))
    p_holm[effect] <- p.adjust(p[effect], method = "holm")
    rows[[length(rows) + 1]] <<- data.frame(
      case = case, data = sp$data, weight = sp$weight, strata = sp$strata,
      psu = sp$psu, fpc = sp$fpc, lonely_psu = sp$lonely, formula = py_formula,
      r_formula = r_formula, level = level, control = control, term = names(b),
      estimate = unname(b), se = unname(SE(m)), ci_low = unname(ci[, 1]),
      ci_high = unname(ci[, 2]), p_value = unname(p), p_holm = p_holm,
      df = m$df.residual, n = nrow(model.matrix(m)), iterations = m$iter,
      stringsAsFactors = FALSE)
  }
}

MAIN_PY <- "burnout ~ C(location) + C(age_group) + C(wave) + hours + female"
MAIN_R <- "burnout ~ location + age_group + wave + hours + female"

# 1. Stratified element sample with fpc (apistrat); stype is also the stratum.
sp <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
run_case("apistrat_fpc/stype+meals", sp,
         "I(api00 > 700) ~ C(stype) + meals", "I(api00 > 700) ~ stype + meals")
run_case("apistrat_fpc/meals+awards/90", sp,
         "I(api00 > 700) ~ meals + C(awards)", "I(api00 > 700) ~ meals + awards",
         level = 0.90)

# 2. Same without fpc, outcome with missing values (rows are the PSUs).
sp <- spec("apistrat", "pw", strata = "stype")
run_case("apistrat/y700_na", sp, "y700_na ~ meals + C(awards)", "y700_na ~ meals + awards")

# 3. One-stage cluster sample with fpc (apiclus1: 15 PSUs, no strata).
sp <- spec("apiclus1", "pw", psu = "dnum", fpc = "fpc")
run_case("apiclus1_fpc/stype+meals", sp,
         "I(api00 > 700) ~ C(stype) + meals", "I(api00 > 700) ~ stype + meals")

# 4. Synthetic stratified cluster sample with factors and NA (s9 left out).
sp <- spec("models_nolonely", "w", strata = "stratum", psu = "psu")
run_case("strclus/main", sp, MAIN_PY, MAIN_R)
run_case("strclus/main/90", sp, MAIN_PY, MAIN_R, level = 0.90)
# patsy puts C(wave) before hours and the interaction last: the order differs.
run_case("strclus/interaction", sp, "burnout ~ C(location) * hours + C(wave)",
         "burnout ~ location * hours + wave")

sp <- spec("models_nolonely", "w", strata = "stratum", psu = "psu", fpc = "N_psu")
run_case("strclus_fpc/main", sp, MAIN_PY, MAIN_R)

# 5. Lonely PSU: s9 has a single PSU in the design.
for (opt in c("remove", "certainty", "adjust", "average")) {
  sp <- spec("models", "w", strata = "stratum", psu = "psu", lonely = opt)
  run_case(sprintf("lonely_%s/main", opt), sp, MAIN_PY, MAIN_R)
}

# "fail" (R's default): the fit stops at the variance.
fail_msg <- tryCatch({
  svyglm(as.formula(MAIN_R), design = build_design(
    spec("models", "w", strata = "stratum", psu = "psu")), family = quasibinomial())
  "no error"
}, error = function(e) conditionMessage(e))
cat("lonely.psu = 'fail' gives:", fail_msg, "\n")
stopifnot(fail_msg != "no error")

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

fmt17 <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x) & !is.nan(x)] <- NA
  out
}

d <- do.call(rbind, rows)
num_cols <- c("estimate", "se", "ci_low", "ci_high", "p_value", "p_holm")
for (col in num_cols) d[[col]] <- fmt17(d[[col]])
d$level <- as.character(d$level)
text_cols <- which(!names(d) %in% c(num_cols, "level", "df", "n", "iterations"))
write.csv(d, file.path(ref_dir, "models_reference.csv"), row.names = FALSE, na = "",
          quote = text_cols)

cat(sprintf("models_reference.csv: %d rows, %d cases; data/models.csv: %d rows\n",
            nrow(d), length(unique(d$case)), nrow(models)))
if (length(warnings_seen)) {
  cat("Warnings:\n")
  tab <- table(warnings_seen)
  for (i in seq_along(tab)) cat(sprintf("  %s  [x%d]\n", names(tab)[i], tab[[i]]))
}
