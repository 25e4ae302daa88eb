# Reference numbers for calibrated designs (neacovid's calibration model and the
# `neacovid calibrate` command), computed with R `survey`.
#
# Run from the repository root, after survey_reference.R and compare_reference.R
# (it reads the apistrat, apiclus1 and panel files they write):
#     Rscript tests/reference/calibration_reference.R
#
# Writes tests/reference/data/{offsets,margins_apistrat,margins_panel_w1}.csv and
# tests/reference/calibration_{shares,means,changes,models,chisq,weights}.csv.
# Deterministic (fixed seed), about 25 s.  Stops on any failed internal check.
#
# Conventions that the Python side must mirror:
# * A calibration model is a list of terms, each a column `a` or a
#   cross-classification `a:b`; the CSV column `calibration` holds the terms
#   joined by commas (`wave:group,wave:young`; empty = not calibrated).  It says
#   that the weights *as given* are already calibrated to the population totals
#   of every term.  The weights are not changed.  The variance uses the
#   residuals of the weighted influence values after a weighted least-squares
#   regression on the indicator columns of all terms (the cells of `a:b`).
#   In R: build svydesign(), then calibrate it to the totals of its *own*
#   current weights, so that g = 1 and only the variance changes
#   (column `r_method`):
#     poststratify  one term:  postStratify(des, ~a + b, population =
#                                svytable(~a + b, des))
#     linear        calibrate(des, f, population = colSums(model.matrix(f,
#                     model.frame(f, model.frame(des))) * weights(des)),
#                     calfun = "linear")
#     raking        the same with calfun = "raking", epsilon = 1e-12,
#                     maxit = 1000 (ginv, so rank-deficient f is fine)
#   where f has factor(a) for a term `a` and interaction(a, b) for a term `a:b`
#   (e.g. ~interaction(wave, group) + interaction(wave, young): rank 16 of 19
#   columns, which calfun = "linear" cannot solve: `solve()` says the system is
#   singular).  The script checks that the weights come back unchanged
#   (max relative difference < 1e-12) and that poststratify, linear and raking
#   give the same numbers for the same span (a single term; a full-rank
#   re-parametrisation of the rank-deficient panel model).
# * Residualisation happens on the *whole* design, once: a domain or an NA
#   restriction of a calibrated design keeps every row, with prob = Inf (weight
#   0) outside (`[.survey.design2` does that for calibrated designs).  Rows
#   outside the domain have influence 0 but a non-zero residual
#   (-w_i * x_i' b), so they still enter the variance.  Degrees of freedom are
#   degf(): PSUs with a positive-weight row in the domain minus the strata they
#   lie in (the same as without calibration).
# * Missing values of the analysis variable restrict the domain
#   (subset(des, !is.na(var)) first).  On a calibrated design those rows stay
#   with weight 0 and R then propagates the NA (svymean gives NA, svyciprop a
#   NaN SE); the script sets the analysis variable of those zero-weight rows
#   to a neutral value (0, or "" for text), which changes nothing (their
#   influence is 0) and is checked against svymean(na.rm = TRUE).
#   Rows with a missing `by` value belong to no domain (as in svyby).
# * Shares and means: as survey_reference.R (domain by domain with `[`,
#   checked against svyby; Wilson by formula; deff as svymean(deff = TRUE)).
#   svyciprop(method = "beta") uses nrow(design) - 1 next to degf(): on a
#   calibrated domain nrow() is the number of rows of the WHOLE design (all
#   rows are kept), not of the domain; the script checks that formula.
# * Changes: as compare_reference.R, but svyby(covmat = TRUE) does not work
#   on a calibrated design in survey 4.1.1 (it stops with "number of items to
#   replace is not a multiple of replacement length": the domain influence
#   functions have the full length).  The script does what svyby does, minus
#   that bug: svymean(influence = TRUE) per domain, the influence columns put
#   side by side, svyrecvar(..., postStrata = des$postStrata) for the joint
#   covariance, then svycontrast() on that svystat.  Checked: it reproduces
#   svyby(covmat = TRUE) exactly on the uncalibrated design; per-domain SEs equal
#   svymean on the domain; the variance of one difference equals that of
#   svytotal(influence difference / weight) and of the svyratio() linearisation
#   (covmat = TRUE); and svyttest() on the two domains gives the same t.
# * Chi-square: svychisq(~row + col, subset(des, wave == "w1")).  On a
#   calibrated design svychisq's denominator df uses nu = PSUs minus strata of
#   ALL rows of the design (it counts unique PSUs of design$cluster, which keeps
#   every row), not degf() of the domain: ddf = ndf * nu_all.  `pearson` is
#   chisq.test(svytable(~row + col, dom, Ntotal = nrow(dom$variables))) as in
#   compare_reference.R, so N is all rows of the design too (F does not depend
#   on N).
# * Models: svyglm(quasibinomial()), converged with
#   glm.control(epsilon = 1e-12, maxit = 100) (control = "tight").  The
#   coefficients equal those of the uncalibrated fit (weights unchanged).
# * Weights from margins (`neacovid calibrate`): calibrate(des, ~factor(a) +
#   factor(b), population = c(N, totals of the non-reference levels), calfun,
#   bounds = c(low, high), epsilon = 1e-12, maxit = 1000).  Bounds are on
#   g = calibrated / design weight.  calfun = "linear" without bounds is the
#   closed-form GREG (regcalibrate); with bounds it is the truncated linear
#   distance, solved by Newton steps like raking.
# * Lonely PSUs are not exercised (no design here has a single-PSU stratum);
#   options(survey.lonely.psu = "fail") is set so that one would stop.
# * Designs are built from the CSV files as read back, not from in-memory data.

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) stop("run this script from the repository root")
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")
for (f in c("apistrat.csv", "apiclus1.csv", "panel.csv")) {
  if (!file.exists(file.path(data_dir, f))) {
    stop("run survey_reference.R and compare_reference.R first (", f, " is missing)")
  }
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

CI_METHODS <- c("logit", "xlogit", "beta", "mean", "likelihood", "asin", "wilson")
TIGHT <- glm.control(epsilon = 1e-12, maxit = 100)

warn_log <- new.env()
warn_log$items <- character(0)
warn_log$errors <- character(0)
current_case <- ""
quietly <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    warn_log$items <- c(warn_log$items, paste0(current_case, ": ", conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
}
checks <- new.env()
checks$n <- list()
passed <- function(what) {
  checks$n[[what]] <- (if (is.null(checks$n[[what]])) 0L else checks$n[[what]]) + 1L
}

same <- function(a, b, tol = 1e-10) {
  isTRUE(all.equal(unname(as.vector(a)), unname(as.vector(b)), tolerance = tol))
}
# Column-wise comparison of two data frames of results (NA must match NA).
same_table <- function(a, b, cols, tol = 1e-10) {
  for (col in cols) {
    x <- a[[col]]
    y <- b[[col]]
    if (!identical(is.na(x), is.na(y))) return(FALSE)
    ok <- !is.na(x)
    if (any(ok) && !same(x[ok], y[ok], tol)) return(FALSE)
  }
  TRUE
}

read_back <- function(path) read.csv(path, stringsAsFactors = FALSE, na.strings = "")

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

set.seed(20261215)

# Stratified one-stage sample with huge stratum offsets and a small spread
# within strata.  The weight is constant within a stratum, so the influence
# values of the overall mean are ~1e8 apart between strata but differ by ~1
# within one: a variance from sum(z^2) - n * mean(z)^2 loses every digit,
# R's centred sum keeps them.
make_offsets <- function() {
  n_h <- c(15L, 22L, 40L, 28L, 33L, 18L)
  w_h <- c(10, 35, 60, 110, 160, 200)
  rows <- list()
  for (h in seq_along(n_h)) {
    n <- n_h[h]
    rows[[h]] <- data.frame(
      id = sprintf("o%d_%02d", h, seq_len(n)),
      stratum = sprintf("h%d", h),
      w = w_h[h],
      y = round(1e8 * h + rnorm(n, 0, 1), 6),
      z = rbinom(n, 1, 0.25 + 0.08 * h),
      # Every domain in every stratum, in a random order.
      dom = sample(rep_len(c("d1", "d2", "d3"), n)),
      stringsAsFactors = FALSE)
  }
  do.call(rbind, rows)
}

offsets_path <- file.path(data_dir, "offsets.csv")
write.csv(make_offsets(), offsets_path, row.names = FALSE, na = "")

datasets <- list(
  apistrat = read_back(file.path(data_dir, "apistrat.csv")),
  apiclus1 = read_back(file.path(data_dir, "apiclus1.csv")),
  panel = read_back(file.path(data_dir, "panel.csv")),
  offsets = read_back(offsets_path)
)

# ---------------------------------------------------------------------------
# Designs and the calibration model
# ---------------------------------------------------------------------------

spec <- function(data, weight, strata = "", psu = "", fpc = "", calibration = "",
                 r_method = "") {
  stopifnot((calibration == "") == (r_method == ""))
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc,
       lonely = "", calibration = calibration, r_method = r_method)
}
with_cal <- function(sp, calibration, r_method) {
  sp$calibration <- calibration
  sp$r_method <- r_method
  sp
}

APISTRAT <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
APICLUS1 <- spec("apiclus1", "pw", psu = "dnum", fpc = "fpc")
PANEL <- spec("panel", "weight", strata = "stratum", psu = "resp_id")
OFFSETS <- spec("offsets", "w", strata = "stratum")
CAL_PANEL_1 <- "wave:group"
CAL_PANEL_2 <- "wave:group,wave:young"

base_design <- function(sp, data = datasets[[sp$data]]) {
  f <- function(v) if (v == "") NULL else reformulate(v)
  svydesign(ids = if (sp$psu == "") ~1 else reformulate(sp$psu),
            strata = f(sp$strata), weights = f(sp$weight), fpc = f(sp$fpc), data = data)
}

cal_terms <- function(calibration) strsplit(strsplit(calibration, ",", fixed = TRUE)[[1]], ":",
                                            fixed = TRUE)

# ~factor(a) + interaction(a, b) + ...: the indicator columns span the cells.
cal_formula <- function(calibration) {
  parts <- vapply(cal_terms(calibration), function(v) {
    if (length(v) == 1) sprintf("factor(%s)", v) else sprintf("interaction(%s)", paste(v, collapse = ", "))
  }, "")
  as.formula(paste("~", paste(parts, collapse = " + ")))
}

own_totals <- function(des, f) {
  mm <- model.matrix(f, model.frame(f, model.frame(des)))
  colSums(mm * weights(des))
}

# Calibrate `des` to the totals of its own weights (g = 1: only the variance
# changes).  `f` overrides the formula (used for the full-rank cross-check).
calibrate_own <- function(des, calibration, r_method, f = NULL) {
  vars <- unique(unlist(cal_terms(calibration)))
  stopifnot(!anyNA(des$variables[, vars]))
  if (r_method == "poststratify") {
    terms <- cal_terms(calibration)
    stopifnot(length(terms) == 1)
    fs <- reformulate(terms[[1]])
    cal <- postStratify(des, fs, population = svytable(fs, des))
  } else {
    if (is.null(f)) f <- cal_formula(calibration)
    pop <- own_totals(des, f)
    cal <- switch(r_method,
      linear = calibrate(des, f, population = pop, calfun = "linear"),
      raking = calibrate(des, f, population = pop, calfun = "raking", epsilon = 1e-12,
                         maxit = 1000),
      stop("unknown r_method ", r_method))
  }
  rel <- max(abs(weights(cal) / weights(des) - 1))
  if (!(rel < 1e-12)) {
    stop(sprintf("calibration %s (%s) changed the weights: max rel. diff %g",
                 calibration, r_method, rel))
  }
  passed("weights unchanged by calibrating to own totals")
  cal
}

build_design <- function(sp) {
  des <- base_design(sp)
  if (sp$calibration == "") des else calibrate_own(des, sp$calibration, sp$r_method)
}

is_cal <- function(des) !is.null(des$postStrata)

# NA in `var` restricts the domain.  A calibrated design keeps those rows with
# weight 0; their value is set to a neutral one so that R does not propagate NA.
restrict_na <- function(des, var) {
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  if (is_cal(des_nm)) {
    v <- des_nm$variables[[var]]
    miss <- is.na(v)
    stopifnot(nrow(des_nm$variables) == nrow(des$variables),
              all(weights(des_nm)[miss] == 0), all(weights(des_nm)[!miss] > 0))
    if (any(miss)) des_nm$variables[[var]][miss] <- if (is.character(v)) "" else 0
  }
  des_nm
}

design_cols <- function(sp) {
  data.frame(data = sp$data, weight = sp$weight, strata = sp$strata, psu = sp$psu,
             fpc = sp$fpc, lonely_psu = sp$lonely, calibration = sp$calibration,
             r_method = sp$r_method, stringsAsFactors = FALSE)
}

# Domains: by-value combinations of the full design (before NA removal),
# without those with a missing by value.
domain_keys <- function(des, by) {
  if (length(by) == 0) return(data.frame(row.names = 1))
  keys <- unique(des$variables[, by, drop = FALSE])
  keys <- keys[stats::complete.cases(keys), , drop = FALSE]
  keys <- keys[do.call(order, unname(as.list(keys))), , drop = FALSE]
  rownames(keys) <- NULL
  keys
}

domain_rows <- function(des, by, key) {
  sel <- weights(des) > 0
  for (b in by) sel <- sel & des$variables[[b]] %in% key[[b]]
  sel
}

domain_label <- function(by, key) {
  if (length(by) == 0) "" else paste(vapply(by, function(b) as.character(key[[b]]), ""), collapse = "|")
}

tq <- function(level, df) qt(1 - (1 - level) / 2, df)

wilson_ci <- function(p, v, level, df) {
  n_eff <- p * (1 - p) / v
  z <- tq(level, df)
  centre <- p + z^2 / (2 * n_eff)
  half <- z * sqrt(p * (1 - p) / n_eff + z^2 / (4 * n_eff^2))
  c(centre - half, centre + half) / (1 + z^2 / n_eff)
}

share_formula <- function(var, value) as.formula(sprintf("~I(%s == %s)", var, deparse(value)))

true_col <- function(stat) {
  i <- grep("TRUE$", names(coef(stat)))
  stopifnot(length(i) == 1)
  i
}

ci_grid <- function(methods, levels = 0.95) {
  expand.grid(ci = methods, level = levels, stringsAsFactors = FALSE)[, c("ci", "level")]
}

# ---------------------------------------------------------------------------
# Shares
# ---------------------------------------------------------------------------

share_rows <- list()

share_table <- function(case, sp, var, by, combos) {
  des <- build_design(sp)
  des_nm <- restrict_na(des, var)
  cats <- sort(unique(des$variables[[var]][!is.na(des$variables[[var]])]))
  keys <- domain_keys(des, by)
  n_keys <- if (length(by) == 0) 1 else nrow(keys)
  out <- list()
  quietly({
    if (is_cal(des)) {
      # The neutral fill changes nothing: same as svymean(na.rm = TRUE) on the
      # NA-restricted design without the fill.
      raw <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
      for (value in cats) {
        f <- share_formula(var, value)
        a <- svymean(f, des_nm)
        b <- svymean(f, raw, na.rm = TRUE)
        if (!same(c(coef(a)[true_col(a)], SE(a)[true_col(a)]),
                  c(coef(b)[true_col(b)], SE(b)[true_col(b)]), 1e-12)) {
          stop("neutral NA fill differs from na.rm = TRUE: ", case)
        }
      }
      passed("neutral NA fill = na.rm")
    }
    for (k in seq_len(n_keys)) {
      key <- if (length(by) == 0) NULL else keys[k, , drop = FALSE]
      label <- domain_label(by, key)
      sel <- domain_rows(des_nm, by, key)
      n <- sum(sel)
      dd <- if (n > 0) des_nm[sel, ] else NULL
      for (value in cats) {
        f <- share_formula(var, value)
        if (n > 0) {
          df <- degf(dd)
          m <- svymean(f, dd, deff = TRUE)
          j <- true_col(m)
          p <- unname(coef(m)[j])
          v <- unname(vcov(m)[j, j])
          deff_val <- unname(deff(m)[j])
          wn <- sum(weights(dd))
        }
        for (r in seq_len(nrow(combos))) {
          M <- combos$ci[r]
          L <- combos$level[r]
          if (n == 0) {
            est <- se <- lo <- hi <- deff_out <- NA_real_
            df_out <- NA_integer_
            wn_out <- 0
          } else {
            if (M == "wilson") {
              est <- p
              se <- sqrt(v)
              ci <- wilson_ci(p, v, L, df)
            } else {
              cp <- tryCatch(svyciprop(f, dd, method = M, level = L),
                             error = function(e) {
                               warn_log$errors <- c(warn_log$errors, sprintf(
                                 "%s [%s, domain %s, category %s]: %s", case, M, label,
                                 value, conditionMessage(e)))
                               NULL
                             })
              if (is.null(cp)) {
                est <- se <- NA_real_
                ci <- c(NA_real_, NA_real_)
              } else {
                est <- as.numeric(coef(cp))
                se <- as.numeric(SE(cp))
                ci <- as.numeric(confint(cp))
              }
              if (M == "beta" && !is.null(cp)) {
                # svyciprop's beta: n_eff * (qt(a/2, nrow(design) - 1) /
                # qt(a/2, degf))^2, where nrow() counts every row kept in the
                # design (all rows of a calibrated design).
                a <- 1 - L
                ne <- p * (1 - p) / v * (qt(a / 2, nrow(dd) - 1) / qt(a / 2, df))^2
                want <- c(qbeta(a / 2, ne * p, ne * (1 - p) + 1),
                          qbeta(1 - a / 2, ne * p + 1, ne * (1 - p)))
                if (!same(ci, want, 1e-12)) stop("beta formula check failed: ", case)
                passed("beta CI formula (nrow(design) - 1)")
              }
            }
            lo <- ci[1]
            hi <- ci[2]
            deff_out <- deff_val
            df_out <- df
            wn_out <- wn
          }
          out[[length(out) + 1]] <- cbind(
            data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
            data.frame(var = var, by = paste(by, collapse = ","), ci = M, level = L,
                       domain = label, category = as.character(value), estimate = est,
                       se = se, ci_low = lo, ci_high = hi, deff = deff_out, df = df_out,
                       n = n, weighted_n = wn_out, stringsAsFactors = FALSE))
        }
      }
    }
  })
  res <- do.call(rbind, out)
  if (length(by) > 0) check_against_svyby(case, res, des_nm, var, by, cats, combos)
  res
}

# svyby() must agree with the domain loop (per-domain df included).
check_against_svyby <- function(case, res, des_nm, var, by, cats, combos) {
  byf <- reformulate(by)
  lab <- function(b) {
    if (length(by) == 1) as.character(b[[by]])
    else do.call(paste, c(lapply(by, function(x) as.character(b[[x]])), sep = "|"))
  }
  quietly({
    for (value in cats) {
      f <- share_formula(var, value)
      sm <- svyby(f, byf, des_nm, svymean, deff = TRUE)
      dcol <- grep("^DEff.*TRUE", names(sm))
      stopifnot(length(dcol) == 1)
      for (r in seq_len(nrow(combos))) {
        M <- combos$ci[r]
        L <- combos$level[r]
        if (M == "wilson") next
        mine <- res[res$category == as.character(value) & res$ci == M & res$level == L, ]
        b <- tryCatch(svyby(f, byf, des_nm, svyciprop, method = M, level = L,
                            vartype = c("se", "ci")),
                      error = function(e) NULL)
        if (is.null(b)) {
          stopifnot(anyNA(mine$estimate[mine$n > 0]))
          next
        }
        stopifnot(setequal(lab(b), mine$domain[mine$n > 0]))
        mine <- mine[match(lab(b), mine$domain), ]
        got <- cbind(b[[ncol(b) - 3]], b$se, b$ci_l, b$ci_u)
        want <- cbind(mine$estimate, mine$se, mine$ci_low, mine$ci_high)
        if (!same(got, want)) stop("svyby disagrees with the domain loop: ", case, " ", M, " ", L)
        if (!same(sm[[dcol]], mine$deff)) stop("svyby deff disagrees with the domain loop: ", case)
        passed("svyby = domain loop (shares)")
      }
    }
  })
}

NUM_SHARE <- c("estimate", "se", "ci_low", "ci_high", "deff", "df", "n", "weighted_n")

# `alt`: other r_methods that must give the same numbers (same span).
run_share_case <- function(case, sp, var, by = character(0), combos, alt = character(0),
                           alt_spec = NULL) {
  current_case <<- case
  res <- share_table(case, sp, var, by, combos)
  for (m in alt) {
    other <- share_table(case, with_cal(sp, sp$calibration, m), var, by, combos)
    if (!same_table(res, other, NUM_SHARE)) stop("r_method ", m, " differs: ", case)
    passed(sprintf("%s = %s (shares)", sp$r_method, m))
  }
  share_rows[[length(share_rows) + 1]] <<- res
  invisible(res)
}

# 1. apistrat (stratified by stype, fpc), weights calibrated to the awards totals.
sp <- with_cal(APISTRAT, "awards", "poststratify")
run_share_case("strat_fpc/cal_awards/y700", sp, "y700", combos = ci_grid(CI_METHODS),
               alt = c("linear", "raking"))
run_share_case("strat_fpc/cal_awards/y700/stype", sp, "y700", "stype",
               combos = ci_grid(CI_METHODS), alt = c("linear", "raking"))
run_share_case("strat_fpc/cal_awards/meals3/awards", sp, "meals3", "awards",
               combos = ci_grid("logit"), alt = "raking")

# 2. Two terms: linear and raking, two row sets that agree.
for (m in c("linear", "raking")) {
  run_share_case(sprintf("strat_fpc/cal_stype,awards/%s/y700/awards", m),
                 with_cal(APISTRAT, "stype,awards", m), "y700", "awards",
                 combos = ci_grid(c("logit", "beta")))
}
local({
  a <- share_rows[[length(share_rows) - 1]]
  b <- share_rows[[length(share_rows)]]
  if (!same_table(a, b, NUM_SHARE)) stop("stype,awards: linear and raking differ")
  passed("linear = raking (shares)")
})

# 3. apiclus1 (one-stage cluster sample), calibrated to the stype totals.
sp <- with_cal(APICLUS1, "stype", "poststratify")
run_share_case("clus1_fpc/cal_stype/y700", sp, "y700", combos = ci_grid(c("logit", "mean")),
               alt = "raking")
run_share_case("clus1_fpc/cal_stype/y700/stype", sp, "y700", "stype",
               combos = ci_grid(c("logit", "mean")), alt = "raking")

# 4. Panel: wave x group cells (one term, poststratify) and wave x group plus
# wave x young (raking; rank-deficient model matrix).
for (cal in list(c(CAL_PANEL_1, "poststratify"), c(CAL_PANEL_2, "raking"))) {
  sp <- with_cal(PANEL, cal[1], cal[2])
  alt <- if (cal[2] == "poststratify") "raking" else character(0)
  run_share_case(sprintf("panel/cal_%s/y/wave", cal[1]), sp, "y", "wave",
                 combos = ci_grid("logit", c(0.95, 0.9)), alt = alt)
  run_share_case(sprintf("panel/cal_%s/y/wave+loc3", cal[1]), sp, "y", c("wave", "loc3"),
                 combos = ci_grid("logit"), alt = alt)
}

# The rank-deficient raking model spans the same space as a full-rank linear
# one (wave x group cells plus wave x young=1): same numbers.
local({
  f_full <- ~ 0 + interaction(wave, group) + factor(wave):young
  des <- calibrate_own(base_design(PANEL), CAL_PANEL_2, "linear", f = f_full)
  stopifnot(qr(model.matrix(f_full, model.frame(f_full, model.frame(des))))$rank == 16)
  raking <- calibrate_own(base_design(PANEL), CAL_PANEL_2, "raking")
  for (v in c("y", "x")) {
    a <- svyby(reformulate(v), ~wave, restrict_na(des, v), svymean)
    b <- svyby(reformulate(v), ~wave, restrict_na(raking, v), svymean)
    if (!same(cbind(coef(a), SE(a)), cbind(coef(b), SE(b)))) {
      stop("rank-deficient raking differs from the full-rank linear calibration")
    }
  }
  passed("rank-deficient raking = full-rank linear")
  # calfun = "linear" on the rank-deficient formula itself cannot be solved.
  msg <- tryCatch({
    calibrate_own(base_design(PANEL), CAL_PANEL_2, "linear")
    "no error"
  }, error = function(e) conditionMessage(e))
  cat("calfun = \"linear\" on", deparse(cal_formula(CAL_PANEL_2)), "gives:", msg, "\n")
  stopifnot(msg != "no error")
})

# 5. Numerics (not calibrated): huge stratum offsets, see make_offsets().
run_share_case("offsets/z/dom", OFFSETS, "z", "dom", combos = ci_grid(c("logit", "mean")))

# ---------------------------------------------------------------------------
# Means
# ---------------------------------------------------------------------------

mean_rows <- list()
NUM_MEAN <- c("estimate", "se", "ci_low", "ci_high", "deff", "df", "n", "weighted_n")

mean_table <- function(case, sp, var, by, level) {
  des <- build_design(sp)
  des_nm <- restrict_na(des, var)
  keys <- domain_keys(des, by)
  n_keys <- if (length(by) == 0) 1 else nrow(keys)
  f <- reformulate(var)
  out <- list()
  quietly({
    if (is_cal(des)) {
      raw <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
      a <- svymean(f, des_nm)
      b <- svymean(f, raw, na.rm = TRUE)
      if (!same(c(coef(a), SE(a)), c(coef(b), SE(b)), 1e-12)) {
        stop("neutral NA fill differs from na.rm = TRUE: ", case)
      }
      passed("neutral NA fill = na.rm")
    }
    for (k in seq_len(n_keys)) {
      key <- if (length(by) == 0) NULL else keys[k, , drop = FALSE]
      sel <- domain_rows(des_nm, by, key)
      dd <- des_nm[sel, ]
      df <- degf(dd)
      m <- svymean(f, dd, deff = TRUE)
      ci <- confint(m, level = level, df = df)
      out[[length(out) + 1]] <- cbind(
        data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
        data.frame(var = var, by = paste(by, collapse = ","), level = level,
                   domain = domain_label(by, key), estimate = unname(coef(m)),
                   se = unname(SE(m)), ci_low = ci[1, 1], ci_high = ci[1, 2],
                   deff = unname(deff(m)), df = df, n = sum(sel),
                   weighted_n = sum(weights(dd)), stringsAsFactors = FALSE))
    }
    res <- do.call(rbind, out)
    if (length(by) > 0) {
      b <- svyby(f, reformulate(by), des_nm, svymean, deff = TRUE)
      if (!same(cbind(b[[var]], b$se, b[[ncol(b)]]), cbind(res$estimate, res$se, res$deff))) {
        stop("svyby disagrees with the domain loop: ", case)
      }
      passed("svyby = domain loop (means)")
    }
  })
  res
}

run_mean_case <- function(case, sp, var, by = character(0), level = 0.95,
                          alt = character(0)) {
  current_case <<- case
  res <- mean_table(case, sp, var, by, level)
  for (m in alt) {
    other <- mean_table(case, with_cal(sp, sp$calibration, m), var, by, level)
    if (!same_table(res, other, NUM_MEAN)) stop("r_method ", m, " differs: ", case)
    passed(sprintf("%s = %s (means)", sp$r_method, m))
  }
  mean_rows[[length(mean_rows) + 1]] <<- res
  invisible(res)
}

sp <- with_cal(APISTRAT, "awards", "poststratify")
run_mean_case("strat_fpc/cal_awards/api00", sp, "api00", alt = c("linear", "raking"))
run_mean_case("strat_fpc/cal_awards/api00/stype", sp, "api00", "stype",
              alt = c("linear", "raking"))
run_mean_case(sprintf("panel/cal_%s/x/wave", CAL_PANEL_1),
              with_cal(PANEL, CAL_PANEL_1, "poststratify"), "x", "wave", alt = "raking")
run_mean_case(sprintf("panel/cal_%s/x/wave", CAL_PANEL_2),
              with_cal(PANEL, CAL_PANEL_2, "raking"), "x", "wave")
run_mean_case("offsets/y", OFFSETS, "y")
run_mean_case("offsets/y/dom", OFFSETS, "y", "dom")

# The definition, by hand: residuals of the domain influence values after a
# weighted least-squares fit on the indicator columns of all terms (over the
# whole design), then the usual with-replacement stratified PSU-total variance
# with fpc.  Must equal R's SE of the calibrated domain mean.
manual_se <- function(des, var, by, key, X) {
  des_nm <- restrict_na(des, var)
  sel <- domain_rows(des_nm, by, key)
  m <- svymean(reformulate(var), des_nm[sel, ], influence = TRUE)
  u <- as.vector(attr(m, "influence"))  # weight x (value - domain mean) / domain weight
  w <- weights(des)                     # calibration weights, all rows
  stopifnot(length(u) == length(w), all(w > 0))
  e <- w * lm.wfit(X, u / w, w)$residuals
  h <- des$strata[, 1]
  psu <- paste(h, des$cluster[, 1])
  N_h <- if (is.null(des$fpc$popsize)) NULL else tapply(des$fpc$popsize[, 1], h, `[`, 1)
  v <- 0
  for (s in unique(h)) {
    t <- tapply(e[h == s], psu[h == s], sum)
    n <- length(t)
    f <- if (is.null(N_h)) 0 else n / N_h[[as.character(s)]]
    v <- v + (1 - f) * n / (n - 1) * sum((t - mean(t))^2)
  }
  c(se = sqrt(v), r_se = unname(SE(m)))
}
local({
  des <- build_design(with_cal(APISTRAT, "awards", "poststratify"))
  X <- model.matrix(~ 0 + factor(awards), des$variables)
  r <- manual_se(des, "api00", "stype", data.frame(stype = "E"), X)
  des <- build_design(with_cal(PANEL, CAL_PANEL_2, "raking"))
  X <- model.matrix(~ interaction(wave, group) + interaction(wave, young), des$variables)
  r <- rbind(r, manual_se(des, "x", "wave", data.frame(wave = "w1"), X))
  if (!same(r[, "se"], r[, "r_se"], 1e-10)) stop("manual WLS-residual variance differs")
  passed("manual WLS-residual variance = R")
})

# The offsets data do what they are for: R's SE equals a two-pass
# (centre, then sum squares) stratified variance, and the one-pass formula
# sum(z^2) - n * mean(z)^2 is far off.
local({
  d <- datasets$offsets
  W <- sum(d$w)
  ybar <- sum(d$w * d$y) / W
  z <- d$w * (d$y - ybar) / W
  two_pass <- 0
  one_pass <- 0
  for (h in unique(d$stratum)) {
    zh <- z[d$stratum == h]
    n <- length(zh)
    two_pass <- two_pass + n / (n - 1) * sum((zh - mean(zh))^2)
    # Naive: raw weighted sums of y, centred at the end.
    yh <- d$y[d$stratum == h]
    wh <- d$w[d$stratum == h]
    s1 <- sum(wh * yh) / W
    s2 <- sum((wh * yh / W)^2)
    one_pass <- one_pass + n / (n - 1) * (s2 - s1^2 / n)  # ybar terms cancel within h
  }
  r <- mean_rows[[length(mean_rows) - 1]]
  if (!same(r$se, sqrt(two_pass), 1e-9)) stop("offsets: R's SE is not the two-pass SE")
  passed("offsets SE = two-pass formula")
  cat(sprintf("offsets/y: R se = %.10g, two-pass = %.10g, one-pass (naive) = %.10g\n",
              r$se, sqrt(two_pass), sqrt(max(one_pass, 0))))
})

# ---------------------------------------------------------------------------
# Changes between waves (differences of domain means)
# ---------------------------------------------------------------------------

# What svyby(FUN = svymean, covmat = TRUE) computes, without its survey 4.1.1
# bug on calibrated designs: per-domain influence functions, put side by
# side over all rows, and one svyrecvar() with the design's postStrata.
domain_means_covmat <- function(f, byvars, des) {
  bf <- do.call(interaction, unname(as.list(des$variables[, byvars, drop = FALSE])))
  lev <- sort(unique(bf[weights(des, "sampling") != 0]))
  nr <- nrow(des$variables)
  infl <- matrix(0, nr, length(lev))
  coefs <- numeric(length(lev))
  for (i in seq_along(lev)) {
    idx <- bf %in% lev[i]
    m <- svymean(f, des[idx, ], influence = TRUE)
    coefs[i] <- coef(m)
    inf <- attr(m, "influence")
    if (NROW(inf) == nr) infl[, i] <- inf else infl[idx, i] <- inf
  }
  V <- svyrecvar(infl, des$cluster, des$strata, des$fpc, postStrata = des$postStrata)
  dimnames(V) <- list(as.character(lev), as.character(lev))
  structure(setNames(coefs, as.character(lev)), var = V, statistic = "mean",
            class = "svystat", influence = infl)
}

# The workaround reproduces svyby(covmat = TRUE) where that works, and
# svyby(covmat = TRUE) really fails on a calibrated design.
local({
  des_nm <- restrict_na(base_design(PANEL), "y")
  a <- svyby(~y, ~group + wave, des_nm, svymean, covmat = TRUE)
  b <- domain_means_covmat(~y, c("group", "wave"), des_nm)
  stopifnot(identical(names(coef(a)), names(coef(b))))
  if (!same(coef(a), coef(b), 1e-14) || !same(vcov(a), vcov(b), 1e-12)) {
    stop("domain_means_covmat does not reproduce svyby(covmat = TRUE)")
  }
  passed("workaround = svyby(covmat = TRUE) (uncalibrated)")
  cal_nm <- restrict_na(build_design(with_cal(PANEL, CAL_PANEL_1, "poststratify")), "y")
  msg <- tryCatch({
    svyby(~y, ~wave, cal_nm, svymean, covmat = TRUE)
    "no error"
  }, error = function(e) conditionMessage(e))
  cat("svyby(covmat = TRUE) on a calibrated design gives:", msg, "\n")
  if (msg == "no error") stop("svyby(covmat = TRUE) works now: use it instead of the workaround")
})

coef_name <- function(values) paste(vapply(values, as.character, ""), collapse = ".")
key_label <- function(d, cols) {
  if (length(cols) == 0) return(rep("", nrow(d)))
  do.call(paste, c(lapply(cols, function(b) as.character(d[[b]])), sep = "|"))
}

change_rows <- list()

run_changes <- function(case, sp, var, over, base, by = character(0), level = 0.95) {
  current_case <<- case
  des <- build_design(sp)
  des_nm <- restrict_na(des, var)
  v <- des_nm$variables
  ok <- weights(des_nm) > 0
  f <- reformulate(var)
  quietly({
    est <- domain_means_covmat(f, c(by, over), des_nm)
    cf <- coef(est)
    se_dom <- sqrt(diag(vcov(est)))
    # Per-domain SEs are those of svyby() without covmat.
    sb <- svyby(f, reformulate(c(by, over)), des_nm, svymean)
    if (!same(cbind(coef(sb), SE(sb)), cbind(cf, se_dom))) stop("domain SEs differ: ", case)
    passed("covmat diagonal = svyby SE")
    levels_over <- sort(unique(v[[over]][ok]))
    keys <- domain_keys(des, by)
    pairs <- list()
    for (k in seq_len(max(1, nrow(keys)))) {
      in_key <- ok
      for (b in by) in_key <- in_key & v[[b]] %in% keys[[b]][k]
      vals <- if (length(by)) lapply(by, function(b) keys[[b]][k]) else list()
      comps <- if (base == "") {
        lapply(seq_along(levels_over)[-1], function(i) c(levels_over[i], levels_over[i - 1]))
      } else {
        lapply(setdiff(levels_over, base), function(l) c(l, base))
      }
      for (cmp in comps) {
        pairs[[length(pairs) + 1]] <- list(
          left = coef_name(c(vals, cmp[1])), right = coef_name(c(vals, cmp[2])),
          rows = in_key & v[[over]] %in% cmp,
          extra = data.frame(domain = key_label(keys[k, , drop = FALSE], by),
                             over_level = cmp[1], base_level = cmp[2],
                             n = sum(in_key & v[[over]] == cmp[1]),
                             base_n = sum(in_key & v[[over]] == cmp[2]),
                             stringsAsFactors = FALSE))
      }
    }
    K <- lapply(pairs, function(p) {
      k <- setNames(numeric(length(cf)), names(cf))
      k[p$left] <- 1
      k[p$right] <- -1
      k
    })
    names(K) <- sprintf("c%d", seq_along(pairs))
    con <- svycontrast(est, K)
    out <- vector("list", length(pairs))
    for (i in seq_along(pairs)) {
      p <- pairs[[i]]
      df <- degf(des_nm[p$rows, ])
      diff <- unname(coef(con))[i]
      se <- sqrt(unname(diag(vcov(con)))[i])
      ci <- confint(svycontrast(est, K[i]), level = level, df = df)
      stopifnot(same(diff, cf[p$left] - cf[p$right], 1e-12))
      out[[i]] <- cbind(p$extra, data.frame(
        estimate = unname(cf[p$left]), base_estimate = unname(cf[p$right]),
        diff = diff, se = se, ci_low = ci[1, 1], ci_high = ci[1, 2],
        p_value = 2 * pt(-abs(diff / se), df), df = df,
        se_independent = sqrt(unname(se_dom[p$left])^2 + unname(se_dom[p$right])^2),
        stringsAsFactors = FALSE))
      # Independent route: design-based t-test on the rows of the two domains.
      sub <- des_nm[p$rows, ]
      sub$variables$.side <- as.integer(sub$variables[[over]] == p$extra$over_level)
      tt <- svyttest(as.formula(paste(var, "~ .side")), sub)
      if (!same(unname(tt$statistic), diff / se, 1e-9) || unname(tt$parameter) != df - 1) {
        stop("svyttest disagrees: ", case, " ", p$left, " - ", p$right)
      }
      passed("svyttest t = diff / se")
    }
    # For the first pair: the variance of the difference is that of a
    # svytotal of (influence difference / weight), which the calibrated
    # design residualises, and that of the svyratio() linearisation.
    p <- pairs[[1]]
    infl <- attr(est, "influence")
    w <- weights(des_nm)
    zd <- ifelse(w > 0, (infl[, match(p$left, names(cf))] - infl[, match(p$right, names(cf))]) / w, 0)
    tmp <- des_nm
    tmp$variables$.zd <- zd
    vt <- vcov(svytotal(~.zd, tmp))[1, 1]
    if (abs(vt / vcov(con)[1, 1] - 1) > 1e-10) stop("svytotal check failed: ", case)
    passed("var(diff) = var(svytotal(infl diff / w))")
    sides <- lapply(c(p$left, p$right), function(nm) {
      bf <- do.call(interaction, unname(as.list(v[, c(by, over), drop = FALSE])))
      as.numeric(ok & bf %in% nm)
    })
    tmp$variables$.na <- tmp$variables[[var]] * sides[[1]]
    tmp$variables$.nb <- tmp$variables[[var]] * sides[[2]]
    tmp$variables$.da <- sides[[1]]
    tmp$variables$.db <- sides[[2]]
    rr <- svyratio(~.na + .nb, ~.da + .db, tmp, covmat = TRUE)
    Vr <- rr$vcov
    vr <- Vr[1, 1] + Vr[4, 4] - 2 * Vr[1, 4]
    if (abs(vr / vcov(con)[1, 1] - 1) > 1e-10) stop("svyratio check failed: ", case)
    passed("var(diff) = svyratio linearisation")
  })
  res <- do.call(rbind, out)
  res$p_holm <- p.adjust(res$p_value, "holm")
  change_rows[[length(change_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(var = var, over = over, base = base, by = paste(by, collapse = ","),
               level = level, stringsAsFactors = FALSE),
    res)
}

for (cal in list(c(CAL_PANEL_1, "poststratify"), c(CAL_PANEL_2, "raking"))) {
  sp <- with_cal(PANEL, cal[1], cal[2])
  for (var in c("y", "x")) {
    run_changes(sprintf("panel/cal_%s/%s/wave", cal[1], var), sp, var, "wave", "w0")
    run_changes(sprintf("panel/cal_%s/%s/wave/group", cal[1], var), sp, var, "wave", "w0",
                "group")
  }
}

# ---------------------------------------------------------------------------
# Models: svyglm(quasibinomial) on calibrated designs
# ---------------------------------------------------------------------------

# C-locale sorted factor levels, as Python sorts strings (models_reference.R).
as_factors <- function(d, cols) {
  for (col in cols) {
    values <- unique(d[[col]][!is.na(d[[col]])])
    d[[col]] <- factor(d[[col]], levels = sort(values, method = "radix"))
  }
  d
}
MODEL_DATA <- list(
  apistrat = as_factors(datasets$apistrat, c("stype", "awards")),
  panel = as_factors(datasets$panel, c("loc3", "wave"))
)

model_rows <- list()

run_model <- function(case, sp, py_formula, r_formula, level = 0.95) {
  current_case <<- case
  base <- base_design(sp, MODEL_DATA[[sp$data]])
  des <- calibrate_own(base, sp$calibration, sp$r_method)
  fit <- function(design, control) {
    withCallingHandlers(
      eval(bquote(svyglm(.(as.formula(r_formula)), design = design,
                         family = quasibinomial(), control = .(control)))),
      warning = function(w) {
        warn_log$items <- c(warn_log$items, paste0(case, ": ", conditionMessage(w)))
        invokeRestart("muffleWarning")
      })
  }
  m <- fit(des, TIGHT)
  stopifnot(m$converged)
  # Same coefficients as without calibration (weights unchanged); a tighter
  # epsilon moves nothing that matters.
  if (!same(coef(m), coef(fit(base, TIGHT)), 1e-10)) stop("calibration moved the coefficients")
  m13 <- fit(des, glm.control(epsilon = 1e-13, maxit = 100))
  if (!same(coef(m), coef(m13), 1e-10) || !same(SE(m), SE(m13), 1e-10)) {
    stop("epsilon 1e-12 is not converged enough: ", case)
  }
  passed("model coefficients = uncalibrated; 1e-12 = 1e-13")
  s <- summary(m)
  b <- coef(m)
  ci <- exp(confint(m, level = level))
  p <- s$coefficients[, 4]
  effect <- names(b) != "(Intercept)"
  p_holm <- rep(NA_real_, length(b))
  p_holm[effect] <- p.adjust(p[effect], method = "holm")
  model_rows[[length(model_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(formula = py_formula, r_formula = r_formula, level = level,
               control = "tight", term = names(b), estimate = unname(b),
               se = unname(SE(m)), ci_low = unname(ci[, 1]), ci_high = unname(ci[, 2]),
               p_value = unname(p), p_holm = p_holm, df = m$df.residual,
               n = nrow(model.matrix(m)), iterations = m$iter, stringsAsFactors = FALSE))
}

run_model(sprintf("panel/cal_%s/loc3+wave", CAL_PANEL_1),
          with_cal(PANEL, CAL_PANEL_1, "poststratify"),
          "y ~ C(loc3) + C(wave)", "y ~ loc3 + wave")
run_model("strat_fpc/cal_awards/stype+meals", with_cal(APISTRAT, "awards", "poststratify"),
          "I(api00 > 700) ~ C(stype) + meals", "I(api00 > 700) ~ stype + meals")

# ---------------------------------------------------------------------------
# Rao-Scott chi-square within wave w1 (a domain of the calibrated panel)
# ---------------------------------------------------------------------------

chisq_rows <- list()

run_chisq <- function(case, sp, row, col, wave) {
  current_case <<- case
  des <- build_design(sp)
  dom <- eval(bquote(subset(des, wave == .(wave))))
  fm <- reformulate(c(row, col))
  r <- quietly(svychisq(fm, dom))
  N <- nrow(dom$variables)
  pearson <- suppressWarnings(chisq.test(svytable(fm, dom, Ntotal = N), correct = FALSE))
  nu_all <- length(unique(dom$cluster[, 1])) - length(unique(dom$strata[, 1]))
  if (!same(r$parameter["ddf"] / r$parameter["ndf"], nu_all, 1e-12)) {
    stop("svychisq ddf is not ndf * (all PSUs - strata): ", case)
  }
  passed("svychisq ddf = ndf * nu of all rows")
  cat(sprintf("%s: svychisq nu = %d (all rows), degf(domain) = %d, N = %d\n", case, nu_all,
              degf(dom), N))
  chisq_rows[[length(chisq_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(row = row, col = col, statistic = unname(r$statistic),
               ndf = unname(r$parameter["ndf"]), ddf = unname(r$parameter["ddf"]),
               p_value = r$p.value, pearson = unname(pearson$statistic),
               stringsAsFactors = FALSE))
}

sp <- with_cal(PANEL, CAL_PANEL_1, "poststratify")
run_chisq(sprintf("panel/cal_%s/w1/group x loc3", CAL_PANEL_1), sp, "group", "loc3", "w1")
run_chisq(sprintf("panel/cal_%s/w1/young x loc3", CAL_PANEL_1), sp, "young", "loc3", "w1")

# ---------------------------------------------------------------------------
# New weights from population margins (`neacovid calibrate`)
# ---------------------------------------------------------------------------

data(api)
margins_api <- rbind(
  data.frame(variable = "stype", category = c("E", "H", "M"),
             total = as.vector(table(factor(apipop$stype, levels = c("E", "H", "M"))))),
  data.frame(variable = "awards", category = c("No", "Yes"),
             total = as.vector(table(factor(apipop$awards, levels = c("No", "Yes")))))
)
stopifnot(sum(margins_api$total[margins_api$variable == "stype"]) == nrow(apipop),
          sum(margins_api$total[margins_api$variable == "awards"]) == nrow(apipop))

# Panel wave w1: synthetic population margins for group and young (rounded
# shares of a round N near the sum of the w1 weights).
w1 <- datasets$panel[datasets$panel$wave == "w1", ]
N_w1 <- round(sum(w1$weight), -4)
split_total <- function(N, shares) {
  x <- round(N * shares)
  x[length(x)] <- N - sum(x[-length(x)])
  x
}
margins_w1 <- rbind(
  data.frame(variable = "group", category = c("a", "b", "c"),
             total = split_total(N_w1, c(0.48, 0.32, 0.20))),
  data.frame(variable = "young", category = c("0", "1"),
             total = split_total(N_w1, c(0.75, 0.25)))
)

write_margins <- function(m, stem) {
  path <- file.path(data_dir, paste0(stem, ".csv"))
  write.csv(m, path, row.names = FALSE)
  read.csv(path, stringsAsFactors = FALSE, colClasses = c("character", "character", "numeric"))
}
margins <- list(apistrat = write_margins(margins_api, "margins_apistrat"),
                panel_w1 = write_margins(margins_w1, "margins_panel_w1"))

# Population totals in model-matrix form for ~factor(a) + factor(b):
# (Intercept) = N, then the totals of the non-reference levels.
margin_population <- function(mm, margins) {
  vars <- unique(margins$variable)
  Ns <- vapply(vars, function(v) sum(margins$total[margins$variable == v]), 0)
  stopifnot(all(Ns == Ns[1]))
  pop <- setNames(numeric(ncol(mm)), colnames(mm))
  pop["(Intercept)"] <- Ns[1]
  for (i in seq_len(nrow(margins))) {
    nm <- sprintf("factor(%s)%s", margins$variable[i], margins$category[i])
    if (nm %in% names(pop)) pop[nm] <- margins$total[i]
  }
  # Every column got a total, every variable drops exactly its first level.
  stopifnot(all(pop > 0), length(pop) == 1 + nrow(margins) - length(vars))
  pop
}

weight_rows <- list()

run_weights <- function(case, data_name, d, sp, id_col, margins, method,
                        bounds = c(-Inf, Inf)) {
  current_case <<- case
  des <- base_design(sp, d)
  vars <- unique(margins$variable)
  f <- as.formula(paste("~", paste(sprintf("factor(%s)", vars), collapse = " + ")))
  mm <- model.matrix(f, model.frame(f, d))
  pop <- margin_population(mm, margins)
  cal <- withCallingHandlers(
    calibrate(des, f, population = pop, calfun = method, bounds = bounds,
              epsilon = 1e-12, maxit = 1000),
    warning = function(w) stop(case, ": ", conditionMessage(w)))
  w0 <- weights(des)
  w1 <- weights(cal)
  g <- w1 / w0
  # Checks: totals met; bounds respected and active; g of the units off the
  # bounds is 1 + X lambda (linear) or exp(X lambda) (raking).
  if (max(abs(colSums(mm * w1) - pop) / pop) > 1e-10) stop(case, ": totals not met")
  bounded <- any(is.finite(bounds))
  tol <- 1e-12
  free <- rep(TRUE, length(g))
  if (bounded) {
    stopifnot(all(g >= bounds[1] - tol), all(g <= bounds[2] + tol))
    at <- abs(g - bounds[1]) < tol | abs(g - bounds[2]) < tol
    if (!any(at)) stop(case, ": bounds not active")
    free <- !at
  }
  target <- if (method == "linear") g - 1 else log(g)
  res <- lm.fit(mm[free, , drop = FALSE], target[free])$residuals
  if (max(abs(res)) > 1e-10) stop(case, ": g is not of the ", method, " form")
  if (!bounded && method == "raking") {
    # Iterative proportional fitting reaches the same weights.
    pops <- lapply(vars, function(v) {
      m <- margins[margins$variable == v, ]
      x <- data.frame(m$category, Freq = m$total)
      names(x)[1] <- v
      x
    })
    rk <- rake(des, lapply(vars, reformulate), pops,
               control = list(maxit = 1000, epsilon = 1e-13, verbose = FALSE))
    if (!same(weights(rk), w1, 1e-9)) stop(case, ": rake() differs")
    passed("raking = rake()")
  }
  passed("calibrated weights: totals, bounds, functional form")
  cat(sprintf("%s: g in [%.6f, %.6f]%s\n", case, min(g), max(g),
              if (bounded) sprintf(", %d units at a bound", sum(!free)) else ""))
  weight_rows[[length(weight_rows) + 1]] <<- data.frame(
    case = case, data = data_name, id = as.character(d[[id_col]]), method = method,
    bound_low = if (bounded) as.character(bounds[1]) else NA_character_,
    bound_high = if (bounded) as.character(bounds[2]) else NA_character_,
    weight = w0, weight_calibrated = w1, stringsAsFactors = FALSE)
  invisible(g)
}

# Unbounded g lies in [0.881, 1.117] (linear and raking), so bounds c(0.8, 1.3)
# would not be active.  c(0.89, 1.3): only the lower bound is active (one
# stype x awards cell), so linear and raking still differ.  c(0.885, 1.11):
# both bounds are active; the two pinned cells leave four free cells for four
# constraints, so linear and raking give the same (unique feasible) weights.
# Narrower bounds such as c(0.9, 1.1) are infeasible (no convergence).
api_sp <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
for (b in list(NULL, c(0.89, 1.3), c(0.885, 1.11))) {
  for (m in c("linear", "raking")) {
    case <- if (is.null(b)) sprintf("apistrat/%s", m) else
      sprintf("apistrat/%s/%s-%s", m, b[1], b[2])
    run_weights(case, "apistrat", datasets$apistrat, api_sp, "snum", margins$apistrat, m,
                if (is.null(b)) c(-Inf, Inf) else b)
  }
}
local({
  wr <- weight_rows[(length(weight_rows) - 1):length(weight_rows)]
  if (!same(wr[[1]]$weight_calibrated, wr[[2]]$weight_calibrated, 1e-10)) {
    stop("two-sided bounds: linear and raking should give the same weights")
  }
  wr <- weight_rows[(length(weight_rows) - 3):(length(weight_rows) - 2)]
  if (same(wr[[1]]$weight_calibrated, wr[[2]]$weight_calibrated, 1e-6)) {
    stop("one-sided bounds: linear and raking should differ")
  }
})

panel_sp <- spec("panel", "weight", strata = "stratum", psu = "resp_id")
for (m in c("linear", "raking")) {
  run_weights(sprintf("panel_w1/%s", m), "panel", w1, panel_sp, "resp_id",
              margins$panel_w1, m)
}

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

fmt17 <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x) & !is.nan(x)] <- NA
  out
}

write_reference <- function(rows, name, num_cols, int_cols = character(0)) {
  d <- do.call(rbind, rows)
  rownames(d) <- NULL
  for (col in num_cols) d[[col]] <- fmt17(d[[col]])
  for (col in int_cols) d[[col]] <- as.character(d[[col]])
  if ("level" %in% names(d)) d$level <- as.character(d$level)
  text_cols <- which(!names(d) %in% c(num_cols, int_cols, "level", "bound_low", "bound_high"))
  write.csv(d, file.path(ref_dir, name), row.names = FALSE, na = "", quote = text_cols)
  nrow(d)
}

counts <- c(
  calibration_shares.csv = write_reference(
    share_rows, "calibration_shares.csv",
    c("estimate", "se", "ci_low", "ci_high", "deff", "weighted_n"), c("df", "n")),
  calibration_means.csv = write_reference(
    mean_rows, "calibration_means.csv",
    c("estimate", "se", "ci_low", "ci_high", "deff", "weighted_n"), c("df", "n")),
  calibration_changes.csv = write_reference(
    change_rows, "calibration_changes.csv",
    c("estimate", "base_estimate", "diff", "se", "ci_low", "ci_high", "p_value", "df",
      "se_independent", "p_holm", "n", "base_n")),
  calibration_models.csv = write_reference(
    model_rows, "calibration_models.csv",
    c("estimate", "se", "ci_low", "ci_high", "p_value", "p_holm"),
    c("df", "n", "iterations")),
  calibration_chisq.csv = write_reference(
    chisq_rows, "calibration_chisq.csv",
    c("statistic", "ndf", "ddf", "p_value", "pearson")),
  calibration_weights.csv = write_reference(
    weight_rows, "calibration_weights.csv", c("weight", "weight_calibrated"))
)

for (nm in names(counts)) cat(sprintf("%s: %d rows\n", nm, counts[[nm]]))
cat(sprintf("data/offsets.csv: %d rows\n", nrow(datasets$offsets)))
cat("Internal checks passed:\n")
for (nm in names(checks$n)) cat(sprintf("  %-55s x%d\n", nm, checks$n[[nm]]))
if (length(warn_log$errors)) {
  cat("svyciprop errors (written as NA estimate/se/ci):\n")
  cat(paste0("  ", warn_log$errors, "\n"), sep = "")
}
if (length(warn_log$items)) {
  cat("Warnings raised by survey (case: message, count):\n")
  tab <- sort(table(warn_log$items), decreasing = TRUE)
  for (i in seq_along(tab)) cat(sprintf("  %s  [x%d]\n", names(tab)[i], tab[[i]]))
}
