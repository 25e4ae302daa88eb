# Reference numbers for neacovid.survey.compare (changes, contrasts, Rao-Scott chi-square),
# computed with R `survey`.
#
# Run from the repository root, after survey_reference.R (it reads the api and
# strclus files that script writes):
#     Rscript tests/reference/compare_reference.R
#
# Writes tests/reference/data/panel.csv and tests/reference/compare_{changes,
# contrasts,chisq}.csv.  Deterministic (fixed seed), a few seconds.
#
# Definitions the Python side mirrors:
# * Missing values of the analysis variable restrict the domain:
#   des_nm <- subset(des, !is.na(var)) first (full-design PSU counts are kept).
# * A difference between two domain means is
#       est <- svyby(~var, ~by + over, des_nm, svymean, covmat = TRUE)
#       svycontrast(est, c(<+1 for one domain>, <-1 for the other>))
#   so its variance carries the covariance of the two domains through shared
#   PSUs (panel respondents) and strata.
# * Degrees of freedom: svycontrast() returns a svystat whose confint() uses
#   df = Inf (normal) unless told otherwise.  We follow the package convention
#   for domain estimates (t with degf() of the domain, as svyciprop does) and
#   give the contrast the df of the design restricted to the rows of the two
#   domains: degf(subset(des_nm, <row in domain a or b>)) = PSUs with members
#   of either domain minus the strata they lie in.  CI: confint(con, df = df);
#   p-value: 2 * pt(-|diff / se|, df).  Cross-check: svyttest() on that subset
#   gives the same t statistic (its df is one less: svyglm's residual df).
# * p_holm: p.adjust(p_value, "holm") over the rows of one case (one table).
# * se_independent: sqrt(se_a^2 + se_b^2) with the per-domain SEs of svyby,
#   i.e. what treating the two domains as independent samples would give.
# * Chi-square: svychisq(~row + col, des) with the default statistic = "F"
#   (second-order Rao-Scott).  pearson is chisq.test() of svytable(Ntotal = N).

suppressPackageStartupMessages(library(survey))

if (!dir.exists("tests/reference")) stop("run this script from the repository root")
ref_dir <- "tests/reference"
data_dir <- file.path(ref_dir, "data")
for (f in c("apistrat.csv", "apiclus1.csv", "strclus.csv")) {
  if (!file.exists(file.path(data_dir, f))) {
    stop("run tests/reference/survey_reference.R first (", f, " is missing)")
  }
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)

read_back <- function(path) read.csv(path, stringsAsFactors = FALSE, na.strings = "")

# ---------------------------------------------------------------------------
# Panel data: stacked waves, one row per respondent per wave
# ---------------------------------------------------------------------------

set.seed(20200401)

make_panel <- function(n_person = 3000) {
  strata <- sprintf("s%d", 1:8)
  stratum <- sample(strata, n_person, replace = TRUE,
                    prob = c(0.05, 0.08, 0.1, 0.12, 0.13, 0.15, 0.17, 0.2))
  base_w <- setNames(c(900, 700, 650, 500, 420, 380, 300, 250), strata)
  person <- data.frame(
    resp_id = sprintf("r%05d", seq_len(n_person)),
    stratum = stratum,
    w0 = base_w[stratum] * exp(rnorm(n_person, 0, 0.3)),
    group = sample(c("a", "b", "c"), n_person, replace = TRUE, prob = c(0.5, 0.3, 0.2)),
    young = rbinom(n_person, 1, 0.22),
    u = rnorm(n_person, 0, 1.6),  # person effect: strong within-person correlation
    stringsAsFactors = FALSE
  )
  s_eff <- setNames(c(-0.4, -0.2, 0, 0.1, 0.2, 0.3, -0.1, 0.4), strata)
  g_eff <- c(a = 0, b = 0.3, c = -0.3)
  waves <- c("w0", "w1", "w2", "w3")
  wave_eff <- c(w0 = 0, w1 = 0.25, w2 = 0.35, w3 = 0.3)
  present <- matrix(FALSE, n_person, length(waves))
  present[, 1] <- runif(n_person) < 0.92
  for (k in 2:length(waves)) {
    # Attrition, and some re-entry of people who skipped a wave.
    stay <- ifelse(present[, k - 1], 0.85, 0.3)
    present[, k] <- runif(n_person) < stay
  }
  rows <- list()
  for (k in seq_along(waves)) {
    p <- person[present[, k], ]
    m <- nrow(p)
    lin <- -0.6 + wave_eff[[waves[k]]] + g_eff[p$group] + 0.5 * p$young +
      0.3 * p$young * (k - 1) + s_eff[p$stratum] + p$u
    loc <- ifelse(runif(m) < plogis(-0.5 + 0.8 * (p$group == "b") + 0.3 * (k - 1)),
                  "home", ifelse(runif(m) < 0.5, "mixed", "site"))
    rows[[k]] <- data.frame(
      resp_id = p$resp_id,
      stratum = p$stratum,
      wave = waves[k],
      # Weights are adjusted for attrition per wave: they vary within a person.
      weight = round(p$w0 * exp(rnorm(m, 0.05 * k, 0.1)), 3),
      group = p$group,
      young = p$young,
      y = rbinom(m, 1, plogis(lin)),
      x = round(5 + 0.3 * (k - 1) + 1.2 * p$u + rnorm(m, 0, 1), 2),
      loc3 = loc,
      stringsAsFactors = FALSE
    )
  }
  d <- do.call(rbind, rows)
  n <- nrow(d)
  d$y[runif(n) < 0.03] <- NA
  d$x[runif(n) < 0.02] <- NA
  d$loc3[runif(n) < 0.02] <- NA
  d <- d[order(d$resp_id, d$wave), ]
  rownames(d) <- NULL
  d
}

panel_path <- file.path(data_dir, "panel.csv")
write.csv(make_panel(), panel_path, row.names = FALSE, na = "")

datasets <- list(
  panel = read_back(panel_path),
  apistrat = read_back(file.path(data_dir, "apistrat.csv")),
  apiclus1 = read_back(file.path(data_dir, "apiclus1.csv")),
  strclus = read_back(file.path(data_dir, "strclus.csv"))
)

# ---------------------------------------------------------------------------
# Designs
# ---------------------------------------------------------------------------

spec <- function(data, weight, strata = "", psu = "", fpc = "", lonely = "",
                 drop_h7 = FALSE) {
  list(data = data, weight = weight, strata = strata, psu = psu, fpc = fpc,
       lonely = lonely, drop_h7 = drop_h7)
}

PANEL <- spec("panel", "weight", strata = "stratum", psu = "resp_id")
APISTRAT <- spec("apistrat", "pw", strata = "stype", fpc = "fpc")

build_design <- function(sp) {
  d <- datasets[[sp$data]]
  if (isTRUE(sp$drop_h7)) d <- d[d$stratum != "h7", ]
  f <- function(v) if (v == "") NULL else reformulate(v)
  svydesign(ids = if (sp$psu == "") ~1 else reformulate(sp$psu),
            strata = f(sp$strata), weights = f(sp$weight), fpc = f(sp$fpc), data = d)
}

with_lonely <- function(sp, expr) {
  old <- options(survey.lonely.psu = if (sp$lonely == "") "fail" else sp$lonely)
  on.exit(options(old))
  expr
}

design_cols <- function(sp) {
  data.frame(data = sp$data, weight = sp$weight, strata = sp$strata, psu = sp$psu,
             fpc = sp$fpc, lonely_psu = sp$lonely, stringsAsFactors = FALSE)
}

key_label <- function(d, cols) {
  if (length(cols) == 0) return(rep("", nrow(d)))
  do.call(paste, c(lapply(cols, function(b) as.character(d[[b]])), sep = "|"))
}

# The coefficient name svyby gives a domain: interaction() labels joined by ".".
coef_name <- function(values) paste(vapply(values, as.character, ""), collapse = ".")

# Differences domain `left` - domain `right`; each element of `pairs` is
# list(label = <by label>, left = <coef name>, right = <coef name>,
#      rows = <logical: rows of des_nm in either domain>, extra = <data.frame>).
contrast_table <- function(est, des_nm, pairs, level, f, check_ttest = NULL) {
  cf <- coef(est)
  se_dom <- setNames(as.numeric(SE(est)), names(cf))  # SE() of a svyby has no names
  n_coef <- length(cf)
  K <- lapply(pairs, function(p) {
    v <- setNames(numeric(n_coef), names(cf))
    v[p$left] <- 1
    v[p$right] <- -1
    v
  })
  names(K) <- sprintf("c%d", seq_along(pairs))
  con <- svycontrast(est, K)
  out <- vector("list", length(pairs))
  for (i in seq_along(pairs)) {
    p <- pairs[[i]]
    df <- degf(des_nm[p$rows, ])
    diff <- unname(coef(con))[i]
    se <- sqrt(unname(diag(vcov(con)))[i])
    # One contrast at a time: confint(con, parm = nm) is wrong in survey 4.1.1
    # for any parm but the first (tconfint indexes the SEs with
    # `parm %in% pnames`, which recycles the first SE).
    ci <- confint(svycontrast(est, K[i]), level = level, df = df)
    stopifnot(isTRUE(all.equal(diff, unname(cf[p$left] - cf[p$right]), tolerance = 1e-12)))
    out[[i]] <- cbind(p$extra, data.frame(
      left_estimate = unname(cf[p$left]), right_estimate = unname(cf[p$right]),
      diff = diff, se = se, ci_low = ci[1, 1], ci_high = ci[1, 2],
      p_value = 2 * pt(-abs(diff / se), df), df = df,
      se_independent = sqrt(unname(se_dom[p$left])^2 + unname(se_dom[p$right])^2),
      stringsAsFactors = FALSE))
    if (!is.null(check_ttest)) {
      # An independent route to the same SE: a design-based t-test (svyglm
      # with a group dummy) on the rows of the two domains.
      sub <- des_nm[p$rows, ]
      sub$variables$.side <- as.integer(check_ttest(sub$variables, p))
      tt <- svyttest(as.formula(paste(all.vars(f), "~ .side")), sub)
      stopifnot(isTRUE(all.equal(unname(tt$statistic), diff / se, tolerance = 1e-9)))
      stopifnot(unname(tt$parameter) == df - 1)
      ttest_checks <<- ttest_checks + 1L
    }
  }
  res <- do.call(rbind, out)
  res$p_holm <- p.adjust(res$p_value, "holm")
  res
}

ttest_checks <- 0L

# ---------------------------------------------------------------------------
# Changes between levels of `over` (waves)
# ---------------------------------------------------------------------------

change_rows <- list()

# base = "" means consecutive levels.
run_changes <- function(case, sp, var, over, base, by = character(0), level = 0.95) {
  des <- build_design(sp)
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  v <- des_nm$variables
  f <- reformulate(var)
  with_lonely(sp, {
    est <- svyby(f, reformulate(c(by, over)), des_nm, svymean, covmat = TRUE)
    # Not svyby(..., des, svymean, covmat = TRUE, na.rm = TRUE): in survey 4.1.1
    # that stops with "number of items to replace is not a multiple of
    # replacement length" as soon as a domain has a missing value (the
    # influence functions of the non-missing rows do not fit the domain index).
    levels_over <- sort(unique(v[[over]]))
    keys <- unique(v[, by, drop = FALSE])
    if (length(by)) {
      keys <- keys[do.call(order, unname(as.list(keys))), , drop = FALSE]
    } else {
      keys <- data.frame(row.names = 1)
    }
    pairs <- list()
    for (k in seq_len(max(1, nrow(keys)))) {
      in_key <- rep(TRUE, nrow(v))
      for (b in by) in_key <- in_key & v[[b]] == keys[[b]][k]
      vals <- if (length(by)) lapply(by, function(b) keys[[b]][k]) else list()
      if (base == "") {
        comps <- lapply(seq_along(levels_over)[-1],
                        function(i) c(levels_over[i], levels_over[i - 1]))
      } else {
        comps <- lapply(setdiff(levels_over, base), function(l) c(l, base))
      }
      for (cmp in comps) {
        rows <- in_key & v[[over]] %in% cmp
        pairs[[length(pairs) + 1]] <- list(
          left = coef_name(c(vals, cmp[1])), right = coef_name(c(vals, cmp[2])),
          rows = rows,
          extra = data.frame(domain = key_label(keys[k, , drop = FALSE], by),
                             over_level = cmp[1], base_level = cmp[2],
                             n = sum(in_key & v[[over]] == cmp[1]),
                             base_n = sum(in_key & v[[over]] == cmp[2]),
                             stringsAsFactors = FALSE))
      }
    }
    side <- function(d, p) d[[over]] == p$extra$over_level
    res <- contrast_table(est, des_nm, pairs, level, f, check_ttest = side)
  })
  names(res)[names(res) == "left_estimate"] <- "estimate"
  names(res)[names(res) == "right_estimate"] <- "base_estimate"
  change_rows[[length(change_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(var = var, over = over, base = base, by = paste(by, collapse = ","),
               level = level, stringsAsFactors = FALSE),
    res)
}

run_changes("panel/y/wave", PANEL, "y", "wave", "w0")
run_changes("panel/y/wave/group", PANEL, "y", "wave", "w0", "group")
run_changes("panel/y/wave/consecutive", PANEL, "y", "wave", "")
run_changes("panel/y/wave/consecutive/young", PANEL, "y", "wave", "", "young")
run_changes("panel/y/wave/base_w2/group+young", PANEL, "y", "wave", "w2", c("group", "young"))
run_changes("panel/x/wave/young", PANEL, "x", "wave", "w0", "young", level = 0.9)

# ---------------------------------------------------------------------------
# Contrasts between two groups (a, b: values joined by "|")
# ---------------------------------------------------------------------------

contrast_rows <- list()

run_contrast <- function(case, sp, var, group, a, b, by = character(0), level = 0.95) {
  des <- build_design(sp)
  des_nm <- eval(bquote(subset(des, !is.na(.(as.name(var))))))
  a_vals <- strsplit(a, "|", fixed = TRUE)[[1]]
  b_vals <- strsplit(b, "|", fixed = TRUE)[[1]]
  g <- as.character(des_nm$variables[[group]])
  des_nm$variables$.side <- ifelse(g %in% a_vals, "A", ifelse(g %in% b_vals, "B", NA))
  v <- des_nm$variables
  f <- reformulate(var)
  with_lonely(sp, {
    est <- svyby(f, reformulate(c(by, ".side")), des_nm, svymean, covmat = TRUE)
    keys <- unique(v[, by, drop = FALSE])
    if (length(by)) {
      keys <- keys[do.call(order, unname(as.list(keys))), , drop = FALSE]
    } else {
      keys <- data.frame(row.names = 1)
    }
    pairs <- list()
    for (k in seq_len(max(1, nrow(keys)))) {
      in_key <- rep(TRUE, nrow(v))
      for (bb in by) in_key <- in_key & v[[bb]] == keys[[bb]][k]
      vals <- if (length(by)) lapply(by, function(bb) keys[[bb]][k]) else list()
      side <- v$.side
      pairs[[length(pairs) + 1]] <- list(
        left = coef_name(c(vals, "A")), right = coef_name(c(vals, "B")),
        rows = in_key & !is.na(side),
        extra = data.frame(domain = key_label(keys[k, , drop = FALSE], by),
                           n_a = sum(in_key & side %in% "A"),
                           n_b = sum(in_key & side %in% "B"), stringsAsFactors = FALSE))
    }
    res <- contrast_table(est, des_nm, pairs, level, f,
                          check_ttest = function(d, p) d$.side == "A")
  })
  names(res)[names(res) == "left_estimate"] <- "estimate_a"
  names(res)[names(res) == "right_estimate"] <- "estimate_b"
  contrast_rows[[length(contrast_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(var = var, group = group, a = a, b = b, by = paste(by, collapse = ","),
               level = level, stringsAsFactors = FALSE),
    res)
}

run_contrast("panel/y/group/a-b/wave", PANEL, "y", "group", "a", "b", "wave")
run_contrast("panel/y/group/a-bc/wave", PANEL, "y", "group", "a", "b|c", "wave")
run_contrast("panel/y/young/wave+group", PANEL, "y", "young", "1", "0", c("wave", "group"))
run_contrast("panel/x/young", PANEL, "x", "young", "1", "0", level = 0.99)
run_contrast("apistrat/api00/stype/E-H", APISTRAT, "api00", "stype", "E", "H")
run_contrast("apistrat/y700_na/stype/E-HM", APISTRAT, "y700_na", "stype", "E", "H|M")
run_contrast("apistrat/api00/stype/E-M/awards", APISTRAT, "api00", "stype", "E", "M",
             "awards")
run_contrast("apiclus1/api00/stype/E-HM", spec("apiclus1", "pw", psu = "dnum", fpc = "fpc"),
             "api00", "stype", "E", "H|M")
run_contrast("strclus/y/dom/d1-d2", spec("strclus", "w", strata = "stratum", psu = "psu",
                                           drop_h7 = TRUE), "y", "dom", "d1", "d2")
for (opt in c("remove", "certainty", "adjust", "average")) {
  sp <- spec("strclus", "w", strata = "stratum", psu = "psu", lonely = opt)
  run_contrast(sprintf("lonely_%s/y/dom/d1-d2", opt), sp, "y", "dom", "d1", "d2")
  run_contrast(sprintf("lonely_%s/x/dom/d3-d1d2/g2", opt), sp, "x", "dom", "d3", "d1|d2", "g2")
}

# ---------------------------------------------------------------------------
# Rao-Scott chi-square (svychisq default: second-order F)
# ---------------------------------------------------------------------------

chisq_rows <- list()

run_chisq <- function(case, sp, row, col) {
  des <- build_design(sp)
  with_lonely(sp, {
    fm <- reformulate(c(row, col))
    r <- svychisq(fm, des)
    N <- nrow(des$variables)
    pearson <- suppressWarnings(chisq.test(svytable(fm, des, Ntotal = N), correct = FALSE))
  })
  chisq_rows[[length(chisq_rows) + 1]] <<- cbind(
    data.frame(case = case, stringsAsFactors = FALSE), design_cols(sp),
    data.frame(row = row, col = col, statistic = unname(r$statistic),
               ndf = unname(r$parameter["ndf"]), ddf = unname(r$parameter["ddf"]),
               p_value = r$p.value, pearson = unname(pearson$statistic),
               stringsAsFactors = FALSE))
}

run_chisq("panel/group x wave", PANEL, "group", "wave")
run_chisq("panel/loc3 x group", PANEL, "loc3", "group")
run_chisq("panel/young x loc3", PANEL, "young", "loc3")
run_chisq("panel/y x wave", PANEL, "y", "wave")
run_chisq("apistrat/stype x awards", APISTRAT, "stype", "awards")
run_chisq("apistrat/meals3 x stype", APISTRAT, "meals3", "stype")
run_chisq("apiclus1/stype x meals3", spec("apiclus1", "pw", psu = "dnum", fpc = "fpc"),
          "stype", "meals3")
run_chisq("strclus/cat3 x dom", spec("strclus", "w", strata = "stratum", psu = "psu",
                                     drop_h7 = TRUE), "cat3", "dom")
for (opt in c("remove", "adjust", "average")) {
  run_chisq(sprintf("lonely_%s/cat3 x dom", opt),
            spec("strclus", "w", strata = "stratum", psu = "psu", lonely = opt), "cat3", "dom")
}

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
  for (col in num_cols) d[[col]] <- fmt17(d[[col]])
  text_cols <- which(!names(d) %in% c(num_cols, "level"))
  write.csv(d, file.path(ref_dir, name), row.names = FALSE, na = "", quote = text_cols)
  nrow(d)
}

test_cols <- c("diff", "se", "ci_low", "ci_high", "p_value", "p_holm", "df",
               "se_independent")
n1 <- write_reference(change_rows, "compare_changes.csv",
                      c("estimate", "base_estimate", test_cols, "n", "base_n"))
n2 <- write_reference(contrast_rows, "compare_contrasts.csv",
                      c("estimate_a", "estimate_b", test_cols, "n_a", "n_b"))
n3 <- write_reference(chisq_rows, "compare_chisq.csv",
                      c("statistic", "ndf", "ddf", "p_value", "pearson"))
cat(sprintf("panel.csv: %d rows; compare_changes.csv: %d rows; compare_contrasts.csv: %d rows; compare_chisq.csv: %d rows\n",
            nrow(datasets$panel), n1, n2, n3))
cat(sprintf("svyttest cross-checks passed: %d\n", ttest_checks))
