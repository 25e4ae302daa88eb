# Reference numbers for the panel comparisons of neacovid: differences in
# differences between two groups across waves, and Wald tests of model terms
# (R survey's regTermTest), computed with R `survey`.
#
# Run from the repository root, after survey_reference.R and compare_reference.R
# (it reads data/panel.csv and data/apistrat.csv, which they write):
#     Rscript tests/reference/panel_reference.R
#
# Writes tests/reference/panel_did.csv and tests/reference/panel_termtests.csv.
# Writes no data file.  Deterministic (no random numbers), about 5 s.  Stops on
# any failed internal check.  R 4.2.2, survey 4.1.1.
#
# Conventions that the Python side must mirror:
# * Design of the panel (data/panel.csv, one row per respondent and wave):
#   svydesign(ids = ~resp_id, strata = ~stratum, weights = ~weight).  A
#   respondent is one PSU in every wave, so domain means of different waves
#   (and of different groups) are correlated through the shared PSUs.
#   `calibration` = "wave:group": the same design post-stratified to its own
#   totals, postStratify(des, ~wave + group, population =
#   svytable(~wave + group, des)), so g = 1 (checked) and only the variance
#   changes (as in calibration_reference.R, r_method "poststratify"; there is
#   no r_method column here).
# * Derived column `loc3_w0`: each respondent's `loc3` in their own w0 row,
#   copied to all of that respondent's rows (all waves, the w0 row included).
#   It is NA when the respondent has no w0 row (180 respondents) or when loc3
#   is NA in that row.  In R:
#       w0 <- d[d$wave == "w0", ]
#       d$loc3_w0 <- w0$loc3[match(d$resp_id, w0$resp_id)]
#   (resp_id x wave is unique; checked).  Rows with NA loc3_w0 belong to no
#   by-level: they are in no domain of the by-cases (svyby drops NA by-values).
# * Groups: `a` and `b` hold the values of the group column joined by "|".
#   A row is in group A if its value (as text: young 1 is "1") is one of the
#   `a` values, in group B if it is one of the `b` values, else in neither.
#   B = "b|c" pools b and c into ONE domain (one mean over the rows of b and c
#   together, weighted by their weights), not an average of two means.
# * Differences in differences (panel_did.csv), for each by-level (or once,
#   domain "") and each wave w != base (waves sorted, `over_level`):
#       did = (mean(A, w) - mean(A, base)) - (mean(B, w) - mean(B, base)).
#   NA in `var` restricts the domains (subset(des, !is.na(var)) first; on the
#   calibrated design those rows stay with weight 0, and their value is set to
#   0, which changes nothing: see calibration_reference.R).  The four domain
#   means come from one svyby(~var, ~[by +] .side + wave, des_nm, svymean,
#   covmat = TRUE), .side = "A"/"B"/NA; se = sqrt(c' V c) with
#   c = (+1, -1, -1, +1) on (A,w), (A,base), (B,w), (B,base), via
#   svycontrast().  On the calibrated design svyby(covmat = TRUE) fails in
#   survey 4.1.1, so the same covariance is computed from per-domain
#   svymean(influence = TRUE) and svyrecvar(..., postStrata = des$postStrata)
#   (calibration_reference.R's workaround; checked equal to svyby on the
#   uncalibrated design).
#   df = degf() of the design restricted to the rows in any of the four domains
#   (PSUs = respondents with a row in any of them, minus the strata they lie
#   in).  CI = did -/+ qt(1 - (1 - level) / 2, df) * se;
#   p_value = 2 * pt(-|did / se|, df); p_holm = p.adjust(p_value, "holm") over
#   the rows of one case (all by-levels and waves together).
#   n_a, base_n_a, n_b, base_n_b: respondents with a non-missing `var` in each
#   domain (equal to the row counts: one row per respondent and wave).
#   Checked for every row: the svycontrast variance equals
#   vcov(svytotal(~I(infl / w))) of the combined influence function
#   infl(A,w) - infl(A,base) - infl(B,w) + infl(B,base), and a saturated
#   svyglm(var ~ .a * .w, gaussian) on the rows of the four domains gives the
#   same estimate and t (its df.residual is df - 3).
# * Wald tests of model terms (panel_termtests.csv): regTermTest(model, ~term)
#   with its defaults: method "Wald", F = beta' V^-1 beta / p, where beta and V
#   are the coefficients of the term(s) (by the model matrix's "assign") and
#   their block of vcov(model); ndf = p (number of those coefficients),
#   ddf = model$df.residual (= degf(design without the rows with a missing
#   model variable) + 1 - k), p_value = pf(F, ndf, ddf, lower.tail = FALSE).
#   The models are svyglm(family = quasibinomial() or gaussian(),
#   control = glm.control(epsilon = 1e-12, maxit = 100)); `family` says
#   binomial or gaussian.  Factor levels are sorted in C-locale order as patsy
#   does, treatment contrasts (first level = reference).  This matters for a
#   main effect of a factor that is also in an interaction: in
#   `y ~ C(loc3) * C(wave)` the test of `C(loc3)` is the test of the loc3
#   effects at the reference wave w0 (checked: it changes if the reference
#   wave changes); tests of terms of additive models do not depend on the
#   reference level (checked).  A set of terms is one joint test over all
#   their coefficients (term "C(loc3)+C(group)", r_term "loc3+group").
#   `k` = number of coefficients of the model, `model_df` = df.residual.
#   Checked: F equals the hand formula; for a one-coefficient term F = t^2 and
#   p equal summary()'s; a fit with epsilon = 1e-13 gives the same F (1e-9);
#   the calibrated fit has the coefficients of the uncalibrated one.
# * Numbers are written with %.17g; NA is an empty field, NaN is "NaN".

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) stop("run this script from the repository root")
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")
for (f in c("apistrat.csv", "panel.csv")) {
  if (!file.exists(file.path(data_dir, f))) {
    stop("run survey_reference.R and compare_reference.R first (", f, " is missing)")
  }
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

TIGHT <- glm.control(epsilon = 1e-12, maxit = 100)
TIGHTER <- glm.control(epsilon = 1e-13, maxit = 100)

checks <- new.env()
checks$n <- list()
passed <- function(what) {
  checks$n[[what]] <- (if (is.null(checks$n[[what]])) 0L else checks$n[[what]]) + 1L
}
warn_log <- new.env()
warn_log$items <- character(0)
current_case <- ""
quietly <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    warn_log$items <- c(warn_log$items, paste0(current_case, ": ", conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
}
same <- function(a, b, tol = 1e-10) {
  isTRUE(all.equal(unname(as.vector(a)), unname(as.vector(b)), tolerance = tol))
}

read_back <- function(path) read.csv(path, stringsAsFactors = FALSE, na.strings = "")

# ---------------------------------------------------------------------------
# Data and designs
# ---------------------------------------------------------------------------

# C-locale sorted factor levels, as Python sorts strings (models_reference.R).
as_factors <- function(d, cols) {
  for (col in cols) {
    values <- unique(d[[col]][!is.na(d[[col]])])
    d[[col]] <- factor(d[[col]], levels = sort(values, method = "radix"))
  }
  d
}

panel <- read_back(file.path(data_dir, "panel.csv"))
stopifnot(!anyDuplicated(panel[, c("resp_id", "wave")]))
# loc3_w0: the respondent's loc3 in their w0 row (NA without a w0 row or with
# a missing loc3 there), on every row of the respondent.
local({
  w0 <- panel[panel$wave == "w0", ]
  panel$loc3_w0 <<- w0$loc3[match(panel$resp_id, w0$resp_id)]
})
stopifnot(all(tapply(panel$loc3_w0, panel$resp_id,
                     function(v) length(unique(v)) == 1)))
apistrat <- read_back(file.path(data_dir, "apistrat.csv"))

datasets <- list(panel = panel, apistrat = apistrat)
model_data <- list(
  panel = as_factors(panel, c("loc3", "wave", "group")),
  apistrat = as_factors(apistrat, c("stype"))
)

spec <- function(data, weight, strata = "", psu = "", fpc = "", calibration = "") {
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc, lonely = "",
       calibration = calibration)
}
PANEL <- spec("panel", "weight", strata = "stratum", psu = "resp_id")
PANEL_CAL <- spec("panel", "weight", strata = "stratum", psu = "resp_id",
                  calibration = "wave:group")
APISTRAT <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")

base_design <- function(sp, data) {
  f <- function(v) if (v == "") NULL else reformulate(v)
  svydesign(ids = if (sp$psu == "") ~1 else reformulate(sp$psu),
            strata = f(sp$strata), weights = f(sp$weight), fpc = f(sp$fpc), data = data)
}

# Post-stratified to its own totals of wave x group: g = 1.
calibrate_own <- function(des, calibration) {
  stopifnot(calibration == "wave:group")
  cal <- postStratify(des, ~wave + group, population = svytable(~wave + group, des))
  rel <- max(abs(weights(cal) / weights(des) - 1))
  if (!(rel < 1e-12)) stop(sprintf("postStratify changed the weights: %g", rel))
  passed("weights unchanged by post-stratifying to own totals")
  cal
}

build_design <- function(sp, data = datasets[[sp$data]]) {
  des <- base_design(sp, data)
  if (sp$calibration == "") des else calibrate_own(des, sp$calibration)
}

is_cal <- function(des) !is.null(des$postStrata)

design_cols <- function(sp) {
  data.frame(data = sp$data, weight = sp$weight, strata = sp$strata, psu = sp$psu,
             fpc = sp$fpc, lonely_psu = sp$lonely, calibration = sp$calibration,
             stringsAsFactors = FALSE)
}

# NA in `var` restricts the domain.  A calibrated design keeps those rows with
# weight 0; their value is set to 0 so that R does not propagate NA.
restrict_na <- function(des, var) {
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  if (is_cal(des_nm)) {
    v <- des_nm$variables[[var]]
    miss <- is.na(v)
    stopifnot(nrow(des_nm$variables) == nrow(des$variables),
              all(weights(des_nm)[miss] == 0), all(weights(des_nm)[!miss] > 0))
    des_nm$variables[[var]][miss] <- 0
  }
  des_nm
}

# ---------------------------------------------------------------------------
# Differences in differences
# ---------------------------------------------------------------------------

# What svyby(FUN = svymean, covmat = TRUE) computes, without its survey 4.1.1
# bug on calibrated designs (calibration_reference.R): per-domain influence
# functions side by side over all rows, one svyrecvar() with the postStrata.
domain_means_covmat <- function(f, byvars, des) {
  bf <- do.call(interaction, unname(as.list(des$variables[, byvars, drop = FALSE])))
  lev <- sort(unique(bf[weights(des, "sampling") != 0]))  # sort() drops NA
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

coef_name <- function(values) paste(vapply(values, as.character, ""), collapse = ".")

did_rows <- list()

run_did <- function(case, sp, var, group, a, b, over = "wave", base = "w0",
                    by = character(0), level = 0.95) {
  current_case <<- case
  stopifnot(length(by) <= 1)
  des <- build_design(sp)
  a_vals <- strsplit(a, "|", fixed = TRUE)[[1]]
  b_vals <- strsplit(b, "|", fixed = TRUE)[[1]]
  stopifnot(!length(intersect(a_vals, b_vals)))
  g <- as.character(des$variables[[group]])
  des$variables$.side <- ifelse(g %in% a_vals, "A", ifelse(g %in% b_vals, "B", NA))
  des_nm <- restrict_na(des, var)
  v <- des_nm$variables
  ok <- weights(des_nm) > 0 & !is.na(v$.side)
  for (bb in by) ok <- ok & !is.na(v[[bb]])
  f <- reformulate(var)
  byvars <- c(by, ".side", over)
  quietly({
    est <- domain_means_covmat(f, byvars, des_nm)
    cf <- coef(est)
    # The workaround is svyby(covmat = TRUE) where that works; the diagonal is
    # svyby's SE in any case.
    sb <- svyby(f, reformulate(byvars), des_nm, svymean)
    if (!identical(names(coef(sb)), names(cf)) ||
        !same(cbind(coef(sb), SE(sb)), cbind(cf, sqrt(diag(vcov(est)))))) {
      stop("domain means or SEs differ from svyby: ", case)
    }
    passed("covmat diagonal = svyby SE")
    if (!is_cal(des_nm)) {
      sbc <- svyby(f, reformulate(byvars), des_nm, svymean, covmat = TRUE)
      if (!identical(names(coef(sbc)), names(cf)) || !same(coef(sbc), cf, 1e-14) ||
          !same(vcov(sbc), vcov(est), 1e-12)) {
        stop("workaround differs from svyby(covmat = TRUE): ", case)
      }
      passed("covmat = svyby(covmat = TRUE) (uncalibrated)")
    }
    levels_over <- sort(unique(v[[over]][ok]))
    stopifnot(base %in% levels_over)
    keys <- if (length(by)) sort(unique(v[[by]][ok]), method = "radix") else ""
    pairs <- list()
    for (key in keys) {
      in_key <- ok
      if (length(by)) in_key <- in_key & v[[by]] == key
      vals <- if (length(by)) list(key) else list()
      for (w in setdiff(levels_over, base)) {
        cells <- list(c("A", w), c("A", base), c("B", w), c("B", base))
        nms <- vapply(cells, function(cl) coef_name(c(vals, cl)), "")
        if (!all(nms %in% names(cf))) stop("empty domain in ", case, ": ", key, " ", w)
        sel <- lapply(cells, function(cl) in_key & v$.side == cl[1] & v[[over]] == cl[2])
        n_resp <- vapply(sel, function(s) length(unique(v$resp_id[s])), 0L)
        stopifnot(n_resp == vapply(sel, sum, 0L))
        pairs[[length(pairs) + 1]] <- list(
          names = nms, rows = Reduce(`|`, sel), w = w,
          extra = data.frame(domain = key, over_level = w, stringsAsFactors = FALSE),
          n = n_resp)
      }
    }
    K <- lapply(pairs, function(p) {
      k <- setNames(numeric(length(cf)), names(cf))
      k[p$names] <- c(1, -1, -1, 1)
      k
    })
    names(K) <- sprintf("c%d", seq_along(pairs))
    con <- svycontrast(est, K)
    infl <- attr(est, "influence")
    wts <- weights(des_nm)
    out <- vector("list", length(pairs))
    for (i in seq_along(pairs)) {
      p <- pairs[[i]]
      m4 <- unname(cf[p$names])
      did <- unname(coef(con))[i]
      se <- sqrt(unname(diag(vcov(con)))[i])
      stopifnot(same(did, (m4[1] - m4[2]) - (m4[3] - m4[4]), 1e-12))
      df <- degf(des_nm[p$rows, ])
      tcrit <- qt(1 - (1 - level) / 2, df)
      # svytotal of the combined influence function / weight has the same
      # variance (the calibrated design residualises it the same way).
      zd <- drop(infl[, match(p$names, names(cf))] %*% c(1, -1, -1, 1))
      tmp <- des_nm
      tmp$variables$.zd <- ifelse(wts > 0, zd / wts, 0)
      vt <- vcov(svytotal(~.zd, tmp))[1, 1]
      if (abs(vt / se^2 - 1) > 1e-10) stop("svytotal check failed: ", case, " row ", i)
      passed("var(did) = var(svytotal(infl / w))")
      # Independent route: saturated linear model on the four domains; the
      # interaction coefficient is the DiD, its sandwich SE the same.
      sub <- des_nm[p$rows, ]
      sub$variables$.a <- as.integer(sub$variables$.side %in% "A")
      sub$variables$.w <- as.integer(sub$variables[[over]] == p$w)
      m <- svyglm(as.formula(paste(var, "~ .a * .w")), sub, family = gaussian())
      t_glm <- coef(m)[[".a:.w"]] / SE(m)[[".a:.w"]]
      if (!same(coef(m)[[".a:.w"]], did, 1e-9) || !same(t_glm, did / se, 1e-9) ||
          m$df.residual != df - 3) {
        stop("saturated svyglm disagrees: ", case, " row ", i)
      }
      passed("saturated svyglm: same did, t; df.residual = df - 3")
      out[[i]] <- cbind(p$extra, data.frame(
        estimate_a = m4[1], base_estimate_a = m4[2], estimate_b = m4[3],
        base_estimate_b = m4[4], did = did, se = se,
        ci_low = did - tcrit * se, ci_high = did + tcrit * se,
        p_value = 2 * pt(-abs(did / se), df), p_holm = NA_real_, df = df,
        n_a = p$n[1], base_n_a = p$n[2], n_b = p$n[3], base_n_b = p$n[4],
        stringsAsFactors = FALSE))
      # confint() on the one contrast gives the same interval.
      ci <- confint(svycontrast(est, K[i]), level = level, df = df)
      stopifnot(same(ci[1, ], c(out[[i]]$ci_low, out[[i]]$ci_high), 1e-12))
    }
  })
  res <- do.call(rbind, out)
  res$p_holm <- p.adjust(res$p_value, "holm")
  did_rows[[length(did_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(var = var, group = group, a = a, b = b, over = over, base = base,
               by = paste(by, collapse = ","), level = level, stringsAsFactors = FALSE),
    res)
  invisible(res)
}

run_did("panel/y/young", PANEL, "y", "young", "1", "0")
run_did("panel/y/young/by_loc3_w0", PANEL, "y", "young", "1", "0", by = "loc3_w0")
run_did("panel/x/group", PANEL, "x", "group", "a", "b|c")
run_did("panel/cal/y/young", PANEL_CAL, "y", "young", "1", "0")
run_did("panel/y/young/90", PANEL, "y", "young", "1", "0", level = 0.9)

# svyby(covmat = TRUE) still fails on the calibrated design (else use it).
local({
  cal <- build_design(PANEL_CAL)
  cal_nm <- restrict_na(cal, "y")
  msg <- tryCatch({
    svyby(~y, ~young + wave, cal_nm, svymean, covmat = TRUE)
    "no error"
  }, error = function(e) conditionMessage(e))
  cat("svyby(covmat = TRUE) on the calibrated design gives:", msg, "\n")
  if (msg == "no error") stop("svyby(covmat = TRUE) works now: use it instead of the workaround")
})

# The level only moves the interval.
local({
  r95 <- did_rows[[1]]
  r90 <- did_rows[[5]]
  cols <- c("did", "se", "p_value", "p_holm", "df", "estimate_a")
  stopifnot(same(as.matrix(r95[, cols]), as.matrix(r90[, cols]), 1e-15),
            all(r90$ci_high - r90$ci_low < r95$ci_high - r95$ci_low))
  passed("level 0.9 = level 0.95 except the interval")
})

# ---------------------------------------------------------------------------
# Wald tests of model terms (regTermTest)
# ---------------------------------------------------------------------------

term_rows <- list()

fit_glm <- function(r_formula, des, family, control) {
  fam <- switch(family, binomial = quasibinomial(), gaussian = gaussian())
  quietly(eval(bquote(svyglm(.(as.formula(r_formula)), design = des, family = .(fam),
                             control = .(control)))))
}

# One test: regTermTest with its defaults, checked against the formula.
term_test <- function(m, r_term) {
  tt <- regTermTest(m, as.formula(paste("~", r_term)))
  labels <- attr(terms(m), "term.labels")
  wanted <- attr(terms(as.formula(paste("~", r_term))), "term.labels")
  stopifnot(all(wanted %in% labels))
  idx <- which(attr(model.matrix(m), "assign") %in% match(wanted, labels))
  stopifnot(!anyNA(coef(m)))
  beta <- coef(m)[idx]
  V <- vcov(m)[idx, idx, drop = FALSE]
  F <- drop(t(beta) %*% solve(V, beta)) / length(idx)
  if (!same(tt$Ftest, F, 1e-10) || tt$df != length(idx) || tt$ddf != m$df.residual ||
      !same(tt$p, pf(F, length(idx), m$df.residual, lower.tail = FALSE), 1e-10)) {
    stop("regTermTest differs from the Wald formula: ", current_case, " ", r_term)
  }
  passed("regTermTest = beta' V^-1 beta / p, pf(p, df.residual)")
  if (length(idx) == 1) {
    s <- summary(m)$coefficients
    if (!same(tt$Ftest, s[idx, 3]^2, 1e-10) || !same(tt$p, s[idx, 4], 1e-10)) {
      stop("one-coefficient F is not t^2: ", current_case, " ", r_term)
    }
    passed("one coefficient: F = t^2, same p")
  }
  tt
}

run_termtests <- function(case, sp, family, py_formula, r_formula, py_terms, r_terms) {
  current_case <<- case
  stopifnot(length(py_terms) == length(r_terms))
  data <- model_data[[sp$data]]
  des <- build_design(sp, data)
  m <- fit_glm(r_formula, des, family, TIGHT)
  stopifnot(m$converged)
  m13 <- fit_glm(r_formula, des, family, TIGHTER)
  if (sp$calibration != "") {
    m0 <- fit_glm(r_formula, base_design(sp, data), family, TIGHT)
    if (!same(coef(m), coef(m0), 1e-10)) stop("calibration moved the coefficients: ", case)
    passed("calibrated coefficients = uncalibrated")
  }
  out <- list()
  for (i in seq_along(r_terms)) {
    tt <- term_test(m, r_terms[i])
    tt13 <- regTermTest(m13, as.formula(paste("~", r_terms[i])))
    if (!same(tt$Ftest, tt13$Ftest, 1e-9)) stop("epsilon 1e-12 not converged: ", case)
    passed("F with epsilon 1e-12 = 1e-13")
    out[[i]] <- data.frame(
      family = family, formula = py_formula, r_formula = r_formula, term = py_terms[i],
      r_term = r_terms[i], statistic = drop(tt$Ftest), ndf = tt$df, ddf = tt$ddf,
      p_value = drop(tt$p), k = length(coef(m)), model_df = m$df.residual,
      stringsAsFactors = FALSE)
  }
  term_rows[[length(term_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp), do.call(rbind, out))
  invisible(m)
}

m_add <- run_termtests(
  "panel/y~loc3+wave+group", PANEL, "binomial",
  "y ~ C(loc3) + C(wave) + C(group)", "y ~ loc3 + wave + group",
  c("C(loc3)", "C(wave)", "C(group)", "C(loc3)+C(group)"),
  c("loc3", "wave", "group", "loc3 + group"))
m_int <- run_termtests(
  "panel/y~loc3*wave", PANEL, "binomial",
  "y ~ C(loc3) * C(wave)", "y ~ loc3 * wave",
  c("C(loc3):C(wave)", "C(loc3)"), c("loc3:wave", "loc3"))
run_termtests(
  "panel/x~loc3+wave", PANEL, "gaussian",
  "x ~ C(loc3) + C(wave)", "x ~ loc3 + wave",
  c("C(loc3)", "C(wave)"), c("loc3", "wave"))
run_termtests(
  "apistrat_fpc/y700~stype+meals", APISTRAT, "binomial",
  "I(api00 > 700) ~ C(stype) + meals", "I(api00 > 700) ~ stype + meals",
  c("C(stype)", "meals"), c("stype", "meals"))
run_termtests(
  "panel/cal_wave:group/y~loc3+wave", PANEL_CAL, "binomial",
  "y ~ C(loc3) + C(wave)", "y ~ loc3 + wave",
  c("C(loc3)", "C(wave)"), c("loc3", "wave"))

# The r_term of a set is written "loc3 + group"; the CSV keeps that form.
# Reference levels: tests in the additive model do not depend on them, the
# main effect of loc3 in the interaction model does (it is the loc3 effect at
# the reference wave, the first sorted level w0).
local({
  current_case <<- "reference-level checks"
  d <- model_data$panel
  d2 <- d
  d2$loc3 <- relevel(d2$loc3, ref = "site")
  d2$wave <- relevel(d2$wave, ref = "w2")
  d2$group <- relevel(d2$group, ref = "c")
  m2 <- fit_glm("y ~ loc3 + wave + group", base_design(PANEL, d2), "binomial", TIGHT)
  for (tm in c("loc3", "wave", "group", "loc3 + group")) {
    if (!same(regTermTest(m_add, as.formula(paste("~", tm)))$Ftest,
              regTermTest(m2, as.formula(paste("~", tm)))$Ftest, 1e-8)) {
      stop("additive-model test depends on the reference level: ", tm)
    }
  }
  passed("additive-model tests do not depend on reference levels")
  m3 <- fit_glm("y ~ loc3 * wave", base_design(PANEL, d2), "binomial", TIGHT)
  if (!same(regTermTest(m_int, ~loc3:wave)$Ftest, regTermTest(m3, ~loc3:wave)$Ftest, 1e-8)) {
    stop("interaction test depends on the reference level")
  }
  if (same(regTermTest(m_int, ~loc3)$Ftest, regTermTest(m3, ~loc3)$Ftest, 1e-4)) {
    stop("main effect in the interaction model should depend on the reference wave")
  }
  cat(sprintf("y ~ loc3 * wave, test of loc3: F = %.6g (reference w0), %.6g (reference w2)\n",
              regTermTest(m_int, ~loc3)$Ftest, regTermTest(m3, ~loc3)$Ftest))
  passed("interaction-model main effect depends on the reference wave")
})

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

fmt17 <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x) & !is.nan(x)] <- NA
  out
}

write_reference <- function(rows, name, num_cols) {
  d <- do.call(rbind, rows)
  rownames(d) <- NULL
  for (col in num_cols) d[[col]] <- fmt17(d[[col]])
  if ("level" %in% names(d)) d$level <- as.character(d$level)
  text_cols <- which(!names(d) %in% c(num_cols, "level"))
  write.csv(d, file.path(ref_dir, name), row.names = FALSE, na = "", quote = text_cols)
  nrow(d)
}

counts <- c(
  panel_did.csv = write_reference(
    did_rows, "panel_did.csv",
    c("estimate_a", "base_estimate_a", "estimate_b", "base_estimate_b", "did", "se",
      "ci_low", "ci_high", "p_value", "p_holm", "df", "n_a", "base_n_a", "n_b",
      "base_n_b")),
  panel_termtests.csv = write_reference(
    term_rows, "panel_termtests.csv",
    c("statistic", "ndf", "ddf", "p_value", "k", "model_df"))
)

for (nm in names(counts)) cat(sprintf("%s: %d rows\n", nm, counts[[nm]]))
cat("Internal checks passed:\n")
for (nm in names(checks$n)) cat(sprintf("  %-60s x%d\n", nm, checks$n[[nm]]))
if (length(warn_log$items)) {
  cat("Warnings raised by survey (case: message, count):\n")
  tab <- sort(table(warn_log$items), decreasing = TRUE)
  for (i in seq_along(tab)) cat(sprintf("  %s  [x%d]\n", names(tab)[i], tab[[i]]))
}
