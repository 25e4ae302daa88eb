# Reference numbers for neacovid's quantiles, ratios, subsets and linear models,
# computed with R `survey`.
#
# Run from the repository root, after survey_reference.R (it reads the apistrat
# and apiclus1 files that script writes):
#     Rscript tests/reference/stats_reference.R
#
# Writes tests/reference/data/quantile_rule.csv and
# tests/reference/stats_{quantiles,ratios,subsets,models}.csv.  Deterministic,
# a few seconds.  Stops on any failed internal check.  See README.md.
#
# Conventions that the Python side mirrors:
# * Quantiles: svyby(~var, ~by, des, svyquantile, quantiles = PROBS, ci = TRUE,
#   na.rm = TRUE, alpha = 1 - level) with the defaults of survey 4.x
#   (qrule = "math", interval.type = "mean"); without `by`, svyquantile itself.
#   Each domain's df and n are those of des[domain & !is.na(var), ] (degf()).
#   Checked: svyquantile on that domain design gives the same numbers.
# * Ratios: svyratio(~num, ~den, des[domain, ], na.rm = TRUE), with a t
#   interval on the domain's df: confint(r, df = degf(domain without NA rows))
#   (confint.svyratio's default df is Inf).  Checked against svyby(...,
#   svyratio, denominator = ~den, na.rm = TRUE).
# * Subsets: R's subset(des, EXPR) before anything else; EXPR is written in the
#   CSV as it is given to pandas (`==`, `!=`, `>`, string literals in double
#   quotes read the same in both).  Means and shares per domain as in
#   survey_reference.R (svymean; svyciprop(method = "logit")), checked against
#   svyby.
# * Calibrated designs: postStratify(des, ~term, population = svytable(~term,
#   des)), the design calibrated to its own totals (g = 1 exactly), as in
#   calibration_reference.R.
# * Models: svyglm(family = gaussian()) (and quasibinomial() with a subset),
#   glm.control(epsilon = 1e-13, maxit = 100); confint() (t on df.residual),
#   summary() p-values, p.adjust(holm) over the non-intercept terms.  `n` is
#   the number of rows fitted with a positive weight (a calibrated subset keeps
#   the other rows at weight 0, and model.matrix() counts those too).

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root")
}
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")

options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

PROBS <- c(0.1, 0.25, 0.5, 0.75, 0.9)
TIGHT <- glm.control(epsilon = 1e-13, maxit = 100)

checks <- new.env()
checks$n <- list()
passed <- function(what) {
  checks$n[[what]] <- (if (is.null(checks$n[[what]])) 0L else checks$n[[what]]) + 1L
}
same <- function(a, b, tol = 1e-10) {
  a <- unname(as.vector(a))
  b <- unname(as.vector(b))
  identical(is.na(a), is.na(b)) &&
    isTRUE(all.equal(a[!is.na(a)], b[!is.na(b)], tolerance = tol))
}
check <- function(ok, what) {
  if (!isTRUE(ok)) stop("check failed: ", what)
  passed(what)
}

warnings_seen <- character(0)
current_case <- ""
quietly <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    warnings_seen <<- c(warnings_seen, paste0(current_case, ": ", conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
}

read_back <- function(path) read.csv(path, stringsAsFactors = FALSE, na.strings = "")

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

# The quantile rule at its edges: x = 1..20 with weights 0.1 (a float64 cumsum
# of ten 0.1 is 0.9999999999999999, R's long double one rounds to 1, so the
# median is the 10th value, on the boundary), and with the first weight 5 of
# 24 (then no partial sum is <= 0.1 * 24 and R returns the *second* value).
quantile_rule_path <- file.path(data_dir, "quantile_rule.csv")
write.csv(data.frame(id = 1:20, x = 1:20, w = 0.1, w_first = c(5, rep(1, 19))),
          quantile_rule_path, row.names = FALSE)

datasets <- list(
  apistrat = read_back(file.path(data_dir, "apistrat.csv")),
  apiclus1 = read_back(file.path(data_dir, "apiclus1.csv")),
  quantile_rule = read_back(quantile_rule_path)
)

# ---------------------------------------------------------------------------
# Designs
# ---------------------------------------------------------------------------

spec <- function(data, weight, strata = "", psu = "", fpc = "", calibration = "") {
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc,
       lonely = "", calibration = calibration,
       r_method = if (calibration == "") "" else "poststratify")
}

STRAT_FPC <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
STRAT <- spec("apistrat", "pw", strata = "stype")
CLUS1_FPC <- spec("apiclus1", "pw", psu = "dnum", fpc = "fpc")
CLUS1 <- spec("apiclus1", "pw", psu = "dnum")
STRAT_CAL <- spec("apistrat", "pw", strata = "stype", fpc = "fpc", calibration = "awards")
CLUS1_CAL <- spec("apiclus1", "pw", psu = "dnum", fpc = "fpc", calibration = "stype")
RULE <- spec("quantile_rule", "w")
RULE_FIRST <- spec("quantile_rule", "w_first")

build_design <- function(sp, subset_expr = "") {
  f <- function(v) if (v == "") NULL else reformulate(v)
  des <- svydesign(ids = if (sp$psu == "") ~1 else reformulate(sp$psu),
                   strata = f(sp$strata), weights = f(sp$weight), fpc = f(sp$fpc),
                   data = datasets[[sp$data]])
  if (sp$calibration != "") {
    term <- reformulate(sp$calibration)
    cal <- postStratify(des, term, population = svytable(term, des))
    check(all(weights(cal) == weights(des)), "postStratify to own totals keeps the weights")
    des <- cal
  }
  if (subset_expr != "") {
    des <- eval(parse(text = sprintf("subset(des, %s)", subset_expr)))
  }
  des
}

design_cols <- function(sp) {
  data.frame(data = sp$data, weight = sp$weight, strata = sp$strata, psu = sp$psu,
             fpc = sp$fpc, lonely_psu = sp$lonely, calibration = sp$calibration,
             r_method = sp$r_method, stringsAsFactors = FALSE)
}

# Domains: the by-value combinations among the rows with a positive weight
# (svyby's), without missing by values, sorted.
domain_keys <- function(des, by) {
  if (length(by) == 0) return(data.frame(row.names = 1))
  keys <- unique(des$variables[weights(des) > 0, by, drop = FALSE])
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
  if (length(by) == 0) "" else paste(vapply(by, function(b) as.character(key[[b]]), ""),
                                     collapse = "|")
}

each_domain <- function(des, by, f) {
  keys <- domain_keys(des, by)
  n_keys <- if (length(by) == 0) 1 else nrow(keys)
  lapply(seq_len(n_keys), function(k) {
    key <- if (length(by) == 0) NULL else keys[k, , drop = FALSE]
    f(domain_label(by, key), domain_rows(des, by, key))
  })
}

# n, weighted_n and df of the rows of a domain that have every variable in vars.
domain_size <- function(des, sel, vars) {
  ok <- sel & stats::complete.cases(des$variables[, vars, drop = FALSE])
  dd <- des[ok, ]
  list(n = sum(weights(dd) > 0), weighted_n = sum(weights(dd)), df = degf(dd), ok = ok)
}

by_formula <- function(by) if (length(by)) reformulate(by) else NULL

# ---------------------------------------------------------------------------
# Quantiles
# ---------------------------------------------------------------------------

quantile_rows <- list()

run_quantile_case <- function(case, sp, var, by = character(0), subset_expr = "",
                              level = 0.95) {
  current_case <<- case
  des <- build_design(sp, subset_expr)
  f <- reformulate(var)
  alpha <- 1 - level
  quietly({
    if (length(by)) {
      b <- svyby(f, by_formula(by), des, svyquantile, quantiles = PROBS, ci = TRUE,
                 na.rm = TRUE, alpha = alpha, vartype = c("se", "ci"))
      k <- length(PROBS)
      est <- as.matrix(b[, length(by) + seq_len(k), drop = FALSE])
      se <- as.matrix(b[, length(by) + k + seq_len(k), drop = FALSE])
      lo <- as.matrix(b[, length(by) + 2 * k + seq_len(k), drop = FALSE])
      hi <- as.matrix(b[, length(by) + 3 * k + seq_len(k), drop = FALSE])
      labels <- if (length(by) == 1) as.character(b[[by]]) else
        do.call(paste, c(lapply(by, function(x) as.character(b[[x]])), sep = "|"))
    }
    out <- each_domain(des, by, function(label, sel) {
      size <- domain_size(des, sel, var)
      q <- svyquantile(f, des[size$ok, ], PROBS, ci = TRUE, alpha = alpha)
      ci <- confint(q)
      direct <- list(est = coef(q), se = SE(q), lo = ci[, 1], hi = ci[, 2])
      if (length(by)) {
        i <- match(label, labels)
        stopifnot(!is.na(i))
        via_svyby <- list(est = est[i, ], se = se[i, ], lo = lo[i, ], hi = hi[i, ])
        check(all(mapply(same, direct, via_svyby)), "svyquantile on the domain = svyby")
      }
      data.frame(case = case, design_cols(sp), var = var, by = paste(by, collapse = ","),
                 subset = subset_expr, level = level, domain = label, quantile = PROBS,
                 estimate = unname(direct$est), se = unname(direct$se),
                 ci_low = unname(direct$lo), ci_high = unname(direct$hi), n = size$n,
                 weighted_n = size$weighted_n, df = size$df, stringsAsFactors = FALSE)
    })
  })
  quantile_rows[[length(quantile_rows) + 1]] <<- do.call(rbind, out)
}

run_quantile_case("strat_fpc/api00", STRAT_FPC, "api00")
run_quantile_case("strat_fpc/meals", STRAT_FPC, "meals")  # ties
run_quantile_case("strat_fpc/meals/stype", STRAT_FPC, "meals", "stype")
run_quantile_case("strat_fpc/api00/awards/90", STRAT_FPC, "api00", "awards", level = 0.90)
run_quantile_case("strat/meals/awards", STRAT, "meals", "awards")
run_quantile_case("strat/y700_na/awards", STRAT, "y700_na", "awards")  # NA, 0/1 ties
run_quantile_case("clus1_fpc/api00", CLUS1_FPC, "api00")
run_quantile_case("clus1_fpc/meals/stype", CLUS1_FPC, "meals", "stype")
run_quantile_case("clus1_fpc/api00/awards", CLUS1_FPC, "api00", "awards")
run_quantile_case("clus1/meals/awards", CLUS1, "meals", "awards")
run_quantile_case("strat_fpc/meals/awards/subset", STRAT_FPC, "meals", "awards",
                  subset_expr = 'stype == "E"')
run_quantile_case("strat_cal/meals/stype", STRAT_CAL, "meals", "stype")
run_quantile_case("strat_cal/api00/awards/subset", STRAT_CAL, "api00", "awards",
                  subset_expr = 'stype != "H"')
run_quantile_case("clus1_cal/api00/awards", CLUS1_CAL, "api00", "awards")
run_quantile_case("rule/x", RULE, "x")
run_quantile_case("rule_first/x", RULE_FIRST, "x")

q <- do.call(rbind, quantile_rows)
rule <- q[q$case == "rule/x", ]
check(rule$estimate[rule$quantile == 0.5] == 10, "median of twenty 0.1 weights is the 10th value")
first <- q[q$case == "rule_first/x", ]
check(first$estimate[first$quantile == 0.1] == 2, "R's qrule_math below the first weight: x[2]")
# The calibrated design has the weights of the plain one: the same estimates.
for (pair in list(c("strat_cal/meals/stype", "strat_fpc/meals/stype"))) {
  check(same(q$estimate[q$case == pair[1]], q$estimate[q$case == pair[2]], 0),
        "calibrated quantile estimates = uncalibrated ones")
}

# ---------------------------------------------------------------------------
# Ratios
# ---------------------------------------------------------------------------

ratio_rows <- list()

run_ratio_case <- function(case, sp, num, den, by = character(0), subset_expr = "",
                           level = 0.95) {
  current_case <<- case
  des <- build_design(sp, subset_expr)
  nf <- reformulate(num)
  df_ <- reformulate(den)
  quietly({
    out <- each_domain(des, by, function(label, sel) {
      size <- domain_size(des, sel, c(num, den))
      r <- svyratio(nf, df_, des[sel, ], na.rm = TRUE)
      ci <- confint(r, level = level, df = size$df)
      data.frame(case = case, design_cols(sp), numerator = num, denominator = den,
                 by = paste(by, collapse = ","), subset = subset_expr, level = level,
                 domain = label, estimate = unname(coef(r)), se = unname(SE(r)),
                 ci_low = ci[1, 1], ci_high = ci[1, 2], n = size$n,
                 weighted_n = size$weighted_n, df = size$df, stringsAsFactors = FALSE)
    })
    res <- do.call(rbind, out)
    if (length(by)) {
      b <- svyby(nf, by_formula(by), des, svyratio, denominator = df_, na.rm = TRUE)
      check(same(b[[ncol(b) - 1]], res$estimate) && same(b[[ncol(b)]], res$se),
            "svyratio on the domain = svyby")
    }
  })
  ratio_rows[[length(ratio_rows) + 1]] <<- res
}

run_ratio_case("strat_fpc/meals:api00", STRAT_FPC, "meals", "api00")
run_ratio_case("strat_fpc/meals:api00/stype", STRAT_FPC, "meals", "api00", "stype")
run_ratio_case("strat_fpc/api00:meals/awards/90", STRAT_FPC, "api00", "meals", "awards",
               level = 0.90)
run_ratio_case("strat/y700_na:meals/awards", STRAT, "y700_na", "meals", "awards")  # NA
run_ratio_case("clus1_fpc/meals:api00/stype", CLUS1_FPC, "meals", "api00", "stype")
# meals3 "high" has no school with api00 > 700: a zero denominator total.
run_ratio_case("clus1_fpc/meals:y700/meals3", CLUS1_FPC, "meals", "y700", "meals3")
run_ratio_case("strat_fpc/meals:api00/awards/subset", STRAT_FPC, "meals", "api00", "awards",
               subset_expr = "api00 > 600")
run_ratio_case("strat_cal/meals:api00/stype", STRAT_CAL, "meals", "api00", "stype")
run_ratio_case("clus1_cal/meals:api00/awards/subset", CLUS1_CAL, "meals", "api00", "awards",
               subset_expr = 'stype == "E"')

r <- do.call(rbind, ratio_rows)
check(!is.finite(r$estimate[r$case == "clus1_fpc/meals:y700/meals3" & r$domain == "high"]),
      "a zero denominator total gives no finite ratio")
# svymean(~meals) = svyratio(~meals, ~one): the ratio to a column of ones.
local({
  des <- build_design(STRAT_FPC)
  des <- update(des, one = 1)
  check(same(coef(svyratio(~meals, ~one, des)), coef(svymean(~meals, des))) &&
          same(SE(svyratio(~meals, ~one, des)), SE(svymean(~meals, des))),
        "ratio to 1 = mean")
})

# ---------------------------------------------------------------------------
# Means and shares on a subset
# ---------------------------------------------------------------------------

subset_rows <- list()

run_subset_case <- function(case, sp, statistic, var, by = character(0), subset_expr,
                            level = 0.95) {
  current_case <<- case
  des <- build_design(sp, subset_expr)
  cats <- if (statistic == "share") sort(unique(na.omit(des$variables[[var]]))) else NA
  quietly({
    out <- each_domain(des, by, function(label, sel) {
      size <- domain_size(des, sel, var)
      dd <- des[size$ok, ]
      rows <- lapply(cats, function(value) {
        if (statistic == "mean") {
          m <- svymean(reformulate(var), dd)
          ci <- confint(m, level = level, df = size$df)
          est <- coef(m)
          se <- SE(m)
        } else {
          f <- as.formula(sprintf("~I(%s == %s)", var, deparse(value)))
          m <- svyciprop(f, dd, method = "logit", level = level)
          ci <- confint(m)
          est <- coef(m)
          se <- SE(m)
        }
        data.frame(case = case, design_cols(sp), statistic = statistic, var = var,
                   by = paste(by, collapse = ","), subset = subset_expr, level = level,
                   domain = label, category = if (is.na(value)) "" else as.character(value),
                   estimate = as.numeric(est), se = as.numeric(se), ci_low = unname(ci[1, 1]),
                   ci_high = unname(ci[1, 2]), n = size$n, weighted_n = size$weighted_n,
                   df = size$df, stringsAsFactors = FALSE)
      })
      do.call(rbind, rows)
    })
    res <- do.call(rbind, out)
    if (length(by) && statistic == "mean") {
      b <- svyby(reformulate(var), by_formula(by), des, svymean, na.rm = TRUE)
      check(same(b[[var]], res$estimate) && same(b$se, res$se), "subset means = svyby")
    }
  })
  subset_rows[[length(subset_rows) + 1]] <<- res
}

run_subset_case("strat_fpc/api00/awards/E", STRAT_FPC, "mean", "api00", "awards",
                subset_expr = 'stype == "E"')
run_subset_case("strat_fpc/awards/E", STRAT_FPC, "share", "awards",
                subset_expr = 'stype == "E"')
run_subset_case("strat/meals/y700_na", STRAT, "mean", "meals", "stype",
                subset_expr = "y700_na == 1")  # NA in the condition: outside
run_subset_case("clus1_fpc/api00/stype/meals50", CLUS1_FPC, "mean", "api00", "stype",
                subset_expr = "meals > 50")
run_subset_case("clus1_fpc/y700/stype/meals20", CLUS1_FPC, "share", "y700", "stype",
                subset_expr = "meals > 20")
run_subset_case("strat_cal/api00/stype/notH", STRAT_CAL, "mean", "api00", "stype",
                subset_expr = 'stype != "H"')
run_subset_case("strat_cal/y700/awards/E", STRAT_CAL, "share", "y700", "awards",
                subset_expr = 'stype == "E"', level = 0.90)

# A subset is the domain of its indicator: svymean on subset(des, E) equals the
# svyby domain "TRUE" of I(stype == "E") (same estimate, SE and df).
local({
  des <- build_design(STRAT_FPC)
  a <- svymean(~api00, subset(des, stype == "E"))
  b <- svyby(~api00, ~I(stype == "E"), des, svymean)
  check(same(coef(a), b$api00[2]) && same(SE(a), b$se[2]), "subset = domain of its indicator")
})

# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

model_rows <- list()

run_model_case <- function(case, sp, family, py_formula, r_formula, subset_expr = "",
                           level = 0.95) {
  current_case <<- case
  des <- build_design(sp, subset_expr)
  fam <- switch(family, gaussian = gaussian(), binomial = quasibinomial())
  m <- quietly(eval(bquote(svyglm(.(as.formula(r_formula)), design = des, family = .(fam),
                                  control = .(TIGHT)))))
  stopifnot(m$converged)
  s <- summary(m)
  b <- coef(m)
  ci <- confint(m, level = level)
  if (family == "binomial") ci <- exp(ci)
  p <- s$coefficients[, 4]
  effect <- names(b) != "(Intercept)"
  p_holm <- rep(NA_real_, length(b))
  p_holm[effect] <- p.adjust(p[effect], method = "holm")
  if (family == "gaussian") {
    # The sandwich by hand: (X'WX)^-1 U'U-type meat from svyrecvar, no dispersion.
    X <- model.matrix(m)
    w <- m$prior.weights
    ainv <- solve(crossprod(X * sqrt(w)))
    u <- X * w * (m$y - fitted(m))
    v <- svyrecvar(u %*% ainv, m$survey.design$cluster, m$survey.design$strata,
                   m$survey.design$fpc, postStrata = m$survey.design$postStrata)
    check(same(sqrt(diag(v)), SE(m), 1e-9), "gaussian svyglm SE = WLS sandwich")
    check(same(coef(m), coef(lm(as.formula(r_formula), data = model.frame(des),
                                weights = weights(des))), 1e-10),
          "gaussian svyglm coefficients = weighted least squares")
  }
  model_rows[[length(model_rows) + 1]] <<- data.frame(
    case = case, design_cols(sp), family = family, formula = py_formula,
    r_formula = r_formula, subset = subset_expr, level = level, term = names(b),
    estimate = unname(b), se = unname(SE(m)), ci_low = unname(ci[, 1]),
    ci_high = unname(ci[, 2]), p_value = unname(p), p_holm = p_holm,
    df = m$df.residual, n = sum(m$prior.weights > 0), stringsAsFactors = FALSE)
}

run_model_case("strat_fpc/api00~meals+stype", STRAT_FPC, "gaussian",
               "api00 ~ meals + C(stype)", "api00 ~ meals + stype")
run_model_case("strat_fpc/api00~meals+stype/90", STRAT_FPC, "gaussian",
               "api00 ~ meals + C(stype)", "api00 ~ meals + stype", level = 0.90)
run_model_case("strat/meals~y700_na+awards", STRAT, "gaussian",
               "meals ~ y700_na + C(awards)", "meals ~ y700_na + awards")  # NA rows
run_model_case("clus1_fpc/api00~meals+stype", CLUS1_FPC, "gaussian",
               "api00 ~ meals + C(stype)", "api00 ~ meals + stype")
run_model_case("strat_fpc/api00~meals+awards/notH", STRAT_FPC, "gaussian",
               "api00 ~ meals + C(awards)", "api00 ~ meals + awards",
               subset_expr = 'stype != "H"')
run_model_case("strat_cal/api00~meals+stype", STRAT_CAL, "gaussian",
               "api00 ~ meals + C(stype)", "api00 ~ meals + stype")
run_model_case("strat_cal/api00~meals/E", STRAT_CAL, "gaussian",
               "api00 ~ meals", "api00 ~ meals", subset_expr = 'stype == "E"')
run_model_case("strat_fpc/y700~meals/notH", STRAT_FPC, "binomial",
               "y700 ~ meals", "y700 ~ meals", subset_expr = 'stype != "H"')
run_model_case("clus1_fpc/y700~meals/meals20", CLUS1_FPC, "binomial",
               "y700 ~ meals", "y700 ~ meals", subset_expr = "meals > 20")
run_model_case("strat_cal/y700~meals/E", STRAT_CAL, "binomial",
               "y700 ~ meals", "y700 ~ meals", subset_expr = 'stype == "E"')

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

fmt17 <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x) & !is.nan(x)] <- NA
  out
}

write_reference <- function(rows, name, num_cols, int_cols = c("n", "df")) {
  d <- do.call(rbind, rows)
  rownames(d) <- NULL
  for (col in num_cols) d[[col]] <- fmt17(d[[col]])
  for (col in int_cols) d[[col]] <- as.character(d[[col]])
  d$level <- as.character(d$level)
  if ("quantile" %in% names(d)) d$quantile <- as.character(d$quantile)
  text_cols <- which(!names(d) %in% c(num_cols, int_cols, "level", "quantile"))
  write.csv(d, file.path(ref_dir, name), row.names = FALSE, na = "", quote = text_cols)
  nrow(d)
}

stat_cols <- c("estimate", "se", "ci_low", "ci_high", "weighted_n")
counts <- c(
  stats_quantiles.csv = write_reference(quantile_rows, "stats_quantiles.csv", stat_cols),
  stats_ratios.csv = write_reference(ratio_rows, "stats_ratios.csv", stat_cols),
  stats_subsets.csv = write_reference(subset_rows, "stats_subsets.csv", stat_cols),
  stats_models.csv = write_reference(
    model_rows, "stats_models.csv",
    c("estimate", "se", "ci_low", "ci_high", "p_value", "p_holm"))
)

for (nm in names(counts)) cat(sprintf("%s: %d rows\n", nm, counts[[nm]]))
cat("Internal checks passed:\n")
for (nm in names(checks$n)) cat(sprintf("  %-55s x%d\n", nm, checks$n[[nm]]))
if (length(warnings_seen)) {
  cat("Warnings raised by survey (case: message, count):\n")
  tab <- sort(table(warnings_seen), decreasing = TRUE)
  for (i in seq_along(tab)) cat(sprintf("  %s  [x%d]\n", names(tab)[i], tab[[i]]))
}
