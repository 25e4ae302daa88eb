# Reference numbers for neacovid's survey estimators, computed with R `survey`.
#
# Run from the repository root:
#     Rscript tests/reference/survey_reference.R
#
# Writes tests/reference/data/{apistrat,apiclus1,strclus}.csv and
# tests/reference/{shares,means}_reference.csv.  See README.md in this folder.
#
# Conventions that the Python side must mirror:
# * Missing values of the analysis variable restrict the domain: every case
#   first drops them with subset(), *then* forms the domains.  Because
#   `[.survey.design2` keeps the full-design PSU counts (fpc$sampsize), this is
#   domain estimation, not a re-drawn design.
# * Domains are estimated one by one with `[` on the design (which is what
#   svyby() and subset() do internally), so that degf() -- and therefore every
#   t quantile -- is the per-domain value.  The loop results are then checked
#   against svyby() so the two routes cannot silently diverge.
# * Designs are built from the CSV files as read back, not from the in-memory
#   data, so R and Python see exactly the same numbers.

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) {
  stop("run this script from the repository root")
}
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

# Defaults, stated explicitly so that a user's .Rprofile cannot change them.
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

CI_METHODS <- c("logit", "xlogit", "beta", "mean", "likelihood", "asin", "wilson")

# Collect warnings instead of letting R print "There were 50 warnings"; the
# summary at the end says which cases produced them.
warn_log <- new.env()
warn_log$items <- character(0)
warn_log$errors <- character(0)
current_case <- ""
quietly <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    warn_log$items <- c(warn_log$items,
                        paste0(current_case, ": ", conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
}

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

data(api)

prep_api <- function(d) {
  d <- d[, c("snum", "stype", "dnum", "pw", "fpc", "api00", "meals", "awards")]
  d$stype <- as.character(d$stype)
  d$awards <- as.character(d$awards)
  d$y700 <- as.integer(d$api00 > 700)
  # Deterministic, value-unrelated missingness so that the NA handling is
  # exercised without depending on the random seed.
  d$y700_na <- ifelse(d$snum %% 7 == 0, NA_integer_, d$y700)
  d$meals3 <- ifelse(d$meals <= 30, "low", ifelse(d$meals <= 60, "mid", "high"))
  d$meals3[d$snum %% 11 == 0] <- NA
  d
}

set.seed(20261126)

make_strclus <- function() {
  n_psu <- c(h1 = 2, h2 = 3, h3 = 4, h4 = 5, h5 = 8, h6 = 12, h7 = 1)
  base_w <- c(h1 = 15, h2 = 30, h3 = 45, h4 = 70, h5 = 110, h6 = 160, h7 = 60)
  strat_eff <- c(h1 = -0.8, h2 = -0.3, h3 = 0, h4 = 0.3, h5 = 0.6, h6 = -0.1, h7 = 0.4)
  rows <- list()
  for (h in names(n_psu)) {
    for (j in seq_len(n_psu[[h]])) {
      m <- sample(5:25, 1)
      u <- rnorm(1, 0, 0.7)  # PSU effect: gives the binary outcome real clustering
      rows[[length(rows) + 1]] <- data.frame(
        stratum = h,
        psu = sprintf("%s_p%d", h, j),
        N_psu = 10L * as.integer(n_psu[[h]]),
        # Weights vary within strata so that weighted and unweighted shares differ.
        w = round(base_w[[h]] * exp(rnorm(m, 0, 0.35)), 3),
        y = rbinom(m, 1, plogis(strat_eff[[h]] + u)),
        y_rare = rbinom(m, 1, 0.03),
        cat3 = sample(c("a", "b", "c"), m, replace = TRUE, prob = c(0.5, 0.3, 0.2)),
        g2 = sample(c("A", "B"), m, replace = TRUE, prob = c(0.55, 0.45)),
        x = round(pmin(12, pmax(0, rnorm(m, 6 + 2 * strat_eff[[h]] + u, 2.5))), 1),
        stringsAsFactors = FALSE
      )
    }
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$cat3[runif(n) < 0.05] <- NA
  d$x[runif(n) < 0.03] <- NA
  d$dom <- sample(c("d1", "d2", "d3"), n, replace = TRUE, prob = c(0.4, 0.35, 0.25))
  # h7 (the lonely stratum) must contain d1 and d2 so that domain estimates
  # depend on the lonely-PSU option.
  h7 <- which(d$stratum == "h7")
  d$dom[h7] <- rep_len(c("d1", "d2", "d1", "d3", "d2"), length(h7))
  # The rare domain d4 (about 20 rows) lives in 5 PSUs of 3 strata (df = 2), so
  # most strata have no d4 member and d4 PSUs are few.
  d4_psus <- c("h3_p2", "h5_p3", "h5_p6", "h6_p4", "h6_p9")
  for (p in d4_psus) {
    idx <- which(d$psu == p)
    d$dom[idx[seq_len(min(4, length(idx)))]] <- "d4"
  }
  d$y_d4na <- ifelse(d$dom == "d4", NA_integer_, d$y)
  d[, c("stratum", "psu", "N_psu", "w", "y", "y_rare", "cat3", "dom", "g2",
        "y_d4na", "x")]
}

write_data <- function(d, stem) {
  path <- file.path(data_dir, paste0(stem, ".csv"))
  write.csv(d, path, row.names = FALSE, na = "")
  # Read back so that designs use exactly what the CSV holds.
  read.csv(path, stringsAsFactors = FALSE, na.strings = "")
}

datasets <- list(
  apistrat = write_data(prep_api(apistrat), "apistrat"),
  apiclus1 = write_data(prep_api(apiclus1), "apiclus1"),
  strclus = write_data(make_strclus(), "strclus")
)

# ---------------------------------------------------------------------------
# Designs
# ---------------------------------------------------------------------------

# spec: list(data, weight, strata, psu, fpc, lonely, drop_h7)
build_design <- function(spec) {
  d <- datasets[[spec$data]]
  if (isTRUE(spec$drop_h7)) d <- d[d$stratum != "h7", ]
  f <- function(v) if (v == "") NULL else reformulate(v)
  svydesign(ids = if (spec$psu == "") ~1 else reformulate(spec$psu),
            strata = f(spec$strata), weights = f(spec$weight),
            fpc = f(spec$fpc), data = d)
}

spec <- function(data, weight, strata = "", psu = "", fpc = "", lonely = "",
                 drop_h7 = FALSE) {
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc,
       lonely = lonely, drop_h7 = drop_h7)
}

# Runs expr with survey.lonely.psu set as the spec says; always restores it.
with_lonely <- function(sp, expr) {
  old <- options(survey.lonely.psu = if (sp$lonely == "") "fail" else sp$lonely)
  on.exit(options(old))
  expr
}

# The domains of a case are the by-value combinations present in the full
# design (before NA removal), so a domain emptied by NAs still gets rows.
domain_keys <- function(des, by) {
  if (length(by) == 0) return(data.frame(row.names = 1))
  keys <- unique(des$variables[, by, drop = FALSE])
  keys <- keys[do.call(order, unname(as.list(keys))), , drop = FALSE]
  rownames(keys) <- NULL
  keys
}

domain_rows <- function(des, by, key) {
  sel <- rep(TRUE, nrow(des$variables))
  for (b in by) sel <- sel & des$variables[[b]] == key[[b]]
  sel
}

domain_label <- function(by, key) {
  if (length(by) == 0) "" else paste(vapply(by, function(b) as.character(key[[b]]), ""), collapse = "|")
}

tq <- function(level, df) qt(1 - (1 - level) / 2, df)

# Wilson is not a method of svyciprop() in survey 4.1.1: score interval with
# the design-based effective sample size and a t quantile on the domain df.
wilson_ci <- function(p, v, level, df) {
  n_eff <- p * (1 - p) / v
  z <- tq(level, df)
  centre <- p + z^2 / (2 * n_eff)
  half <- z * sqrt(p * (1 - p) / n_eff + z^2 / (4 * n_eff^2))
  c(centre - half, centre + half) / (1 + z^2 / n_eff)
}

share_formula <- function(var, value) {
  as.formula(sprintf("~I(%s == %s)", var, deparse(value)))
}

true_col <- function(stat) {
  i <- grep("TRUE$", names(coef(stat)))
  stopifnot(length(i) == 1)
  i
}

# ---------------------------------------------------------------------------
# Shares
# ---------------------------------------------------------------------------

share_rows <- list()
svyby_checks <- 0L

run_share_case <- function(case, sp, var, by = character(0), levels_extra = FALSE) {
  current_case <<- case
  des <- build_design(sp)
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  cats <- sort(unique(des$variables[[var]][!is.na(des$variables[[var]])]))
  keys <- domain_keys(des, by)
  combos <- data.frame(ci = CI_METHODS, level = 0.95, stringsAsFactors = FALSE)
  if (levels_extra) {
    combos <- rbind(combos, data.frame(ci = c("logit", "mean"), level = 0.90))
  }
  n_keys <- if (length(by) == 0) 1 else nrow(keys)
  out <- list()
  with_lonely(sp, quietly({
    for (k in seq_len(n_keys)) {
      key <- if (length(by) == 0) NULL else keys[k, , drop = FALSE]
      label <- domain_label(by, key)
      sel <- if (length(by) == 0) rep(TRUE, nrow(des_nm$variables)) else domain_rows(des_nm, by, key)
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
              # svyciprop can fail outright (the likelihood profile when the
              # share is 0 or 1); the row is then kept with NA for the
              # estimate and interval, so the Python side can see that R
              # gives no number there.
              cp <- tryCatch(svyciprop(f, dd, method = M, level = L),
                             error = function(e) {
                               warn_log$errors <- c(warn_log$errors, sprintf(
                                 "%s [%s, domain %s, category %s]: %s", current_case,
                                 M, label, value, conditionMessage(e)))
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
            }
            lo <- ci[1]
            hi <- ci[2]
            deff_out <- deff_val
            df_out <- df
            wn_out <- wn
          }
          out[[length(out) + 1]] <- data.frame(
            case = case, data = sp$data, weight = sp$weight, strata = sp$strata,
            psu = sp$psu, fpc = sp$fpc, lonely_psu = sp$lonely, var = var,
            by = paste(by, collapse = ","), ci = M, level = L, domain = label,
            category = as.character(value), estimate = est, se = se,
            ci_low = lo, ci_high = hi, deff = deff_out, df = df_out, n = n,
            weighted_n = wn_out, stringsAsFactors = FALSE)
        }
      }
    }
  }))
  res <- do.call(rbind, out)
  if (length(by) > 0) check_against_svyby(res, des_nm, var, by, cats, combos, sp)
  share_rows[[length(share_rows) + 1]] <<- res
  invisible(res)
}

# The loop above is the definition; svyby() must agree with it.  This is where
# the per-domain df matters: svyby() calls svyciprop() on design[domain, ], and
# svyciprop's default `df = degf(design)` is evaluated on that subset.
check_against_svyby <- function(res, des_nm, var, by, cats, combos, sp) {
  byf <- reformulate(by)
  lab <- function(b) {
    if (length(by) == 1) as.character(b[[by]])
    else do.call(paste, c(lapply(by, function(x) as.character(b[[x]])), sep = "|"))
  }
  with_lonely(sp, quietly({
    for (value in cats) {
      f <- share_formula(var, value)
      sm <- svyby(f, byf, des_nm, svymean, deff = TRUE)
      dcol <- grep("^DEff.*TRUE", names(sm))
      stopifnot(length(dcol) == 1)
      for (r in seq_len(nrow(combos))) {
        M <- combos$ci[r]
        L <- combos$level[r]
        if (M == "wilson") next
        mine <- res[res$category == as.character(value) & res$ci == M &
                      res$level == L, ]
        b <- tryCatch(svyby(f, byf, des_nm, svyciprop, method = M, level = L,
                            vartype = c("se", "ci")),
                      error = function(e) NULL)
        if (is.null(b)) {
          # svyby fails as a whole when one domain fails; the loop must have
          # recorded that failure for some domain.
          stopifnot(anyNA(mine$estimate[mine$n > 0]))
          next
        }
        stopifnot(setequal(lab(b), mine$domain[mine$n > 0]))
        mine <- mine[match(lab(b), mine$domain), ]
        stopifnot(!anyNA(mine$domain))
        got <- cbind(b[[ncol(b) - 3]], b$se, b$ci_l, b$ci_u)
        want <- cbind(mine$estimate, mine$se, mine$ci_low, mine$ci_high)
        if (!isTRUE(all.equal(got, want, check.attributes = FALSE, tolerance = 1e-10))) {
          stop("svyby disagrees with the domain loop: ", current_case, " ", M, " ", L)
        }
        if (!isTRUE(all.equal(sm[[dcol]], mine$deff, check.attributes = FALSE,
                              tolerance = 1e-10))) {
          stop("svyby deff disagrees with the domain loop: ", current_case)
        }
        svyby_checks <<- svyby_checks + 1L
      }
    }
  }))
}

# 1. Stratified element sample with fpc; the 0.90 rows check that `level`
# reaches both the t quantile and the logit back-transform.
sp <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
run_share_case("strat_fpc/y700", sp, "y700", levels_extra = TRUE)
run_share_case("strat_fpc/y700/stype", sp, "y700", "stype", levels_extra = TRUE)
run_share_case("strat_fpc/awards/stype", sp, "awards", "stype", levels_extra = TRUE)

# 2. Same design without fpc, with NA in the analysis variable.
sp <- spec("apistrat", "pw", strata = "stype")
run_share_case("strat_nofpc/y700_na/stype", sp, "y700_na", "stype", levels_extra = TRUE)
run_share_case("strat_nofpc/meals3", sp, "meals3", levels_extra = TRUE)

# 3. One-stage cluster sample (no strata: degf = PSUs - 1).
sp <- spec("apiclus1", "pw", psu = "dnum", fpc = "fpc")
run_share_case("clus1_fpc/y700", sp, "y700")
run_share_case("clus1_fpc/y700/stype", sp, "y700", "stype")
run_share_case("clus1_fpc/meals3/stype", sp, "meals3", "stype")

# 4. Stratified cluster sample without the lonely stratum.
sp <- spec("strclus", "w", strata = "stratum", psu = "psu", drop_h7 = TRUE)
run_share_case("strclus/y/dom", sp, "y", "dom")
run_share_case("strclus/cat3/dom", sp, "cat3", "dom")
run_share_case("strclus/y_rare/dom", sp, "y_rare", "dom")
run_share_case("strclus/y/dom+g2", sp, "y", c("dom", "g2"))
run_share_case("strclus/y_d4na/dom", sp, "y_d4na", "dom")  # d4 is empty

# 5. Same with fpc (N_psu = population PSUs per stratum).
sp <- spec("strclus", "w", strata = "stratum", psu = "psu", fpc = "N_psu", drop_h7 = TRUE)
run_share_case("strclus_fpc/y/dom", sp, "y", "dom")
run_share_case("strclus_fpc/cat3", sp, "cat3")

# 6. Lonely PSU: h7 has one PSU in the whole design (not just in a domain).
for (opt in c("remove", "certainty", "adjust", "average")) {
  sp <- spec("strclus", "w", strata = "stratum", psu = "psu", lonely = opt)
  run_share_case(sprintf("lonely_%s/y", opt), sp, "y")
  run_share_case(sprintf("lonely_%s/y/dom", opt), sp, "y", "dom")
}

# "fail" is R's default: the design builds, but any variance errors out.
fail_msg <- tryCatch({
  svymean(~y, build_design(spec("strclus", "w", strata = "stratum", psu = "psu")))
  "no error"
}, error = function(e) conditionMessage(e))
cat("lonely.psu = 'fail' gives:", fail_msg, "\n")
stopifnot(fail_msg != "no error")

# ---------------------------------------------------------------------------
# Means
# ---------------------------------------------------------------------------

mean_rows <- list()

run_mean_case <- function(case, sp, var, by = character(0), level = 0.95) {
  current_case <<- case
  des <- build_design(sp)
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  keys <- domain_keys(des, by)
  n_keys <- if (length(by) == 0) 1 else nrow(keys)
  f <- reformulate(var)
  out <- list()
  with_lonely(sp, quietly({
    for (k in seq_len(n_keys)) {
      key <- if (length(by) == 0) NULL else keys[k, , drop = FALSE]
      sel <- if (length(by) == 0) rep(TRUE, nrow(des_nm$variables)) else domain_rows(des_nm, by, key)
      dd <- des_nm[sel, ]
      df <- degf(dd)
      m <- svymean(f, dd, deff = TRUE)
      ci <- confint(m, level = level, df = df)
      out[[length(out) + 1]] <- data.frame(
        case = case, data = sp$data, weight = sp$weight, strata = sp$strata,
        psu = sp$psu, fpc = sp$fpc, lonely_psu = sp$lonely, var = var,
        by = paste(by, collapse = ","), level = level,
        domain = domain_label(by, key), estimate = unname(coef(m)),
        se = unname(SE(m)), ci_low = ci[1, 1], ci_high = ci[1, 2],
        deff = unname(deff(m)), df = df, n = sum(sel),
        weighted_n = sum(weights(dd)), stringsAsFactors = FALSE)
    }
    if (length(by) > 0) {
      b <- svyby(f, reformulate(by), des_nm, svymean, deff = TRUE)
      res <- do.call(rbind, out)
      stopifnot(isTRUE(all.equal(cbind(b[[var]], b$se, b[[ncol(b)]]),
                                 cbind(res$estimate, res$se, res$deff),
                                 check.attributes = FALSE, tolerance = 1e-10)))
    }
  }))
  mean_rows[[length(mean_rows) + 1]] <<- do.call(rbind, out)
}

sp <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")
run_mean_case("strat_fpc/api00", sp, "api00")
run_mean_case("strat_fpc/api00/stype", sp, "api00", "stype")
run_mean_case("clus1_fpc/api00/stype", spec("apiclus1", "pw", psu = "dnum", fpc = "fpc"),
              "api00", "stype")
run_mean_case("strclus/x/dom",
              spec("strclus", "w", strata = "stratum", psu = "psu", drop_h7 = TRUE), "x", "dom")
run_mean_case("strclus_fpc/x",
              spec("strclus", "w", strata = "stratum", psu = "psu", fpc = "N_psu",
                   drop_h7 = TRUE), "x")
for (opt in c("adjust", "average")) {
  run_mean_case(sprintf("lonely_%s/x/dom", opt),
                spec("strclus", "w", strata = "stratum", psu = "psu", lonely = opt),
                "x", "dom")
}

# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

# write.csv would round to 15 significant digits; %.17g round-trips doubles.
# NA -> empty field; NaN (0/0, e.g. deff of a share that is 0) -> "NaN".
fmt17 <- function(x) {
  out <- sprintf("%.17g", x)
  out[is.na(x) & !is.nan(x)] <- NA
  out
}

write_reference <- function(rows, path, num_cols) {
  d <- do.call(rbind, rows)
  d$level <- as.character(d$level)
  for (col in num_cols) d[[col]] <- fmt17(d[[col]])
  d$df <- as.character(d$df)
  d$n <- as.character(d$n)
  text_cols <- which(!names(d) %in% c(num_cols, "df", "n", "level"))
  write.csv(d, path, row.names = FALSE, na = "", quote = text_cols)
  nrow(d)
}

num_cols <- c("estimate", "se", "ci_low", "ci_high", "deff", "weighted_n")
n_shares <- write_reference(share_rows, file.path(ref_dir, "shares_reference.csv"), num_cols)
n_means <- write_reference(mean_rows, file.path(ref_dir, "means_reference.csv"), num_cols)

cat(sprintf("shares_reference.csv: %d rows; means_reference.csv: %d rows\n", n_shares, n_means))
cat(sprintf("svyby cross-checks passed: %d\n", svyby_checks))
if (length(warn_log$errors)) {
  cat("svyciprop errors (written as NA estimate/se/ci):\n")
  cat(paste0("  ", warn_log$errors, "\n"), sep = "")
}
if (length(warn_log$items)) {
  cat("Warnings raised by survey (case: message, count):\n")
  tab <- sort(table(warn_log$items), decreasing = TRUE)
  for (i in seq_along(tab)) cat(sprintf("  %s  [x%d]\n", names(tab)[i], tab[[i]]))
}
