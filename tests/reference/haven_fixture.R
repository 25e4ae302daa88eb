# A small NEA COVID-19 wave 2021-11 file written by R haven (not by our own
# writer), to check that such a file goes through the codebook path unchanged.
#
# Run from the repository root:
#     Rscript tests/reference/haven_fixture.R
#
# Writes tests/reference/data/haven_covid_2021_11.sav (300 respondents, ~20 kB),
# read by tests/test_haven_fixture.py (which does not need R).
# Made with R 4.2.2 and haven 2.5.1 (Debian r-cran-haven). Deterministic: fixed
# seed and RNG kinds; the write time ReadStat stamps into the .sav header is
# overwritten with 01 Nov 21 00:00:00, so two runs give byte-identical files.
#
# The variable names and codes are those workflow/codebook/nea_covid.yaml maps
# for wave 2021-11 (template `covid`). Written the way an R user would:
# haven::labelled_spss() with Dutch value labels and declared user-missing
# codes, variable labels in attr(x, "label"), haven's default formats (F8.2 for
# doubles, F8.0 for integers: no format.spss set) and no file label.
#
# Planted on purpose (tests/test_haven_fixture.py checks the audit counts them):
# * user-missing codes that occur: 8/9 (na_values) on the items, 98/99
#   (na_range = c(98, 99)) on uren_thuis/uren_locatie, 98 thru HI
#   (na_range = c(98, Inf)) on zituren, 999 (na_values) on leeftijd (2 rows);
# * codes the codebook does not know: eenzaam_2 = 5 (3 rows, a 1-3 item),
#   sekse = 2 (2 rows, labelled "anders" in the file; the codebook knows 0/1),
#   toekomst_thuis = 0 (3 rows, labelled "niet van toepassing", where the
#   codebook expects system-missing for those not asked);
# * ages outside 15-74: 14, 14, 75, 75, 80 (5 rows); one weight of 0;
# * half hours (7.5) in the hours variables; a week without hours (0 and 0);
# * unmapped extra variables: meting, opleiding and a string variable opmerking.
# The panel id is an R integer (written as a numeric SPSS variable, F8.0), as
# the synthetic files and NEA 2019's respnr are numeric.

suppressPackageStartupMessages(library(haven))

out <- file.path("tests", "reference", "data", "haven_covid_2021_11.sav")
if (!dir.exists(dirname(out))) {
  stop("run this script from the repository root: Rscript tests/reference/haven_fixture.R")
}

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20211101)
n <- 300L

lab <- function(x, label) {
  attr(x, "label") <- label
  x
}
# Replace a share p of x by the user-missing codes (70% the first, 30% the second).
with_missing <- function(x, p, codes) {
  hit <- runif(length(x)) < p
  x[hit] <- ifelse(runif(sum(hit)) < 0.7, codes[1], codes[2])
  x
}

sectors <- c(
  "A Landbouw, bosbouw en visserij", "B Delfstoffenwinning", "C Industrie",
  "D Energievoorziening", "E Waterbedrijven en afvalbeheer", "F Bouwnijverheid",
  "G Handel", "H Vervoer en opslag", "I Horeca", "J Informatie en communicatie",
  "K Financiële dienstverlening", "L Verhuur en handel van onroerend goed",
  "M Specialistische zakelijke diensten", "N Verhuur en overige zakelijke diensten",
  "O Openbaar bestuur en overheidsdiensten", "P Onderwijs",
  "Q Gezondheids- en welzijnszorg", "R Cultuur, sport en recreatie",
  "S Overige dienstverlening"
)
sector_share <- c(14, 2, 98, 4, 5, 50, 165, 50, 58, 36, 25, 8, 62, 88, 56, 66, 158, 18, 27)
telework <- c(.08, .45, .35, .65, .30, .20, .22, .18, .06, .92, .93, .75, .82, .35, .85, .55,
              .20, .35, .35)

# ---------------------------------------------------------------- people
panelid <- 100000L + sample.int(900000L, n)
age <- sample(15:74, n, replace = TRUE, prob = c(rep(1.6, 10), rep(1, 40), rep(0.8, 10)))
female <- runif(n) < 0.49
sector <- sample.int(19L, n, replace = TRUE, prob = sector_share)
weight <- round(rlnorm(n, 0, 0.35), 6)
weight <- round(weight / sum(weight) * 7.86e6, 4)

# Work location: on site, hybrid, fully at home; a few weeks without hours.
home_p <- telework[sector]
loc <- ifelse(runif(n) < home_p, ifelse(runif(n) < 0.55, "hybrid", "home"), "on_site")
total <- pmin(pmax(round(ifelse(female, rnorm(n, 28, 7), rnorm(n, 36, 6)) * 2) / 2, 8), 60)
frac <- round(runif(n, 0.2, 0.8) * total * 2) / 2
hours_home <- ifelse(loc == "on_site", 0, ifelse(loc == "home", total, pmax(frac, 0.5)))
hours_loc <- total - hours_home
zero_week <- sample.int(n, 3)
hours_home[zero_week] <- 0
hours_loc[zero_week] <- 0

# Items from person latents.
ubos <- function(z) pmin(pmax(round(2 + 1.7 * z + 0.9 * rnorm(n)), 1), 7)
yes_no <- function(z, t) as.numeric(z + 0.9 * rnorm(n) > t)
lonely_item <- function(z) {
  v <- z + 0.8 * rnorm(n)
  1 + (v > 0.5) + (v > 1.5)
}
z_burn <- rnorm(n) + 0.3 * (age < 25 & loc == "on_site") - 0.3
z_kans <- rnorm(n) + 0.15 * (loc != "on_site")
z_lonely <- rnorm(n) + 0.25 * (loc == "home")
z_phys <- rnorm(n) + 0.3 * (loc == "on_site")

ubos_labels <- c(
  "nooit" = 1, "een paar keer per jaar of minder" = 2, "eens per maand of minder" = 3,
  "een paar keer per maand" = 4, "eens per week" = 5, "een paar keer per week" = 6,
  "elke dag" = 7, "weet niet" = 8, "geen antwoord" = 9
)
yes_no_labels <- c("nee" = 0, "ja" = 1, "weet niet" = 8, "geen antwoord" = 9)
lonely_labels <- c("(bijna) nooit" = 1, "soms" = 2, "vaak" = 3, "weet niet" = 8,
                   "geen antwoord" = 9)
hours_labels <- c("weet niet" = 98, "geen antwoord" = 99)
item <- function(x, labels, p, label) {
  lab(labelled_spss(with_missing(x, p, c(8, 9)), labels = labels, na_values = c(8, 9)), label)
}

ubos_text <- c(
  "Ik voel me mentaal uitgeput door mijn werk",
  "Aan het eind van een werkdag voel ik me leeg",
  "Ik voel me vermoeid als ik 's morgens opsta en er weer een werkdag voor me ligt",
  "De hele dag werken vormt een zware belasting voor mij",
  "Ik voel me 'opgebrand' door mijn werk"
)
kans_names <- c("kans_nek", "kans_schouder", "kans_bovenrug", "kans_arm", "kans_elleboog",
                "kans_pols")
kans_regions <- c("nek", "schouder", "bovenrug", "arm", "elleboog", "pols/hand")
kans_thresholds <- c(0.9, 1.1, 1.7, 1.8, 2.1, 1.5)
lonely_text <- c(
  "Hoe vaak heeft u het gevoel dat u gezelschap mist?",
  "Hoe vaak voelt u zich buitengesloten?",
  "Hoe vaak voelt u zich geïsoleerd van anderen?"
)
fys_names <- c("fys_rug", "fys_heup", "fys_been", "fys_voet")
fys_regions <- c("lage rug", "heupen", "benen/knieën", "voeten/enkels")
fys_thresholds <- c(0.9, 1.9, 1.4, 2.0)

# ---------------------------------------------------------------- the file
d <- data.frame(panelid = panelid)
d$panelid <- lab(d$panelid, "Panelnummer (respondentnummer NEA 2019)")
d$meting <- lab(rep(4, n), "Meting NEA COVID-19")
d$ophoogfactor <- lab(weight, "Ophoogfactor naar de populatie werknemers 15-74 jaar")
d$leeftijd <- lab(
  labelled_spss(as.numeric(age), labels = c("onbekend" = 999), na_values = 999),
  "Leeftijd in jaren op de peildatum"
)
d$sekse <- lab(
  labelled_spss(as.numeric(female), labels = c("man" = 0, "vrouw" = 1, "anders" = 2)),
  "Geslacht"
)
d$sector <- lab(
  labelled_spss(as.numeric(sector), labels = setNames(as.numeric(1:19), sectors)),
  "Sector (SBI 2008 sectie), steekproefstratum"
)
d$opleiding <- lab(
  labelled_spss(
    as.numeric(sample(c(1, 2, 3, 9), n, replace = TRUE, prob = c(.25, .4, .33, .02))),
    labels = c("laag" = 1, "middelbaar" = 2, "hoog" = 3, "onbekend" = 9), na_values = 9
  ),
  "Opleidingsniveau"
)
d$uren_thuis <- lab(
  labelled_spss(with_missing(hours_home, 0.01, c(98, 99)), labels = hours_labels,
                na_range = c(98, 99)),
  "Aantal uren thuis gewerkt in de afgelopen week"
)
d$uren_locatie <- lab(
  labelled_spss(with_missing(hours_loc, 0.01, c(98, 99)), labels = hours_labels,
                na_range = c(98, 99)),
  "Aantal uren op locatie (buitenshuis) gewerkt in de afgelopen week"
)
for (i in 1:5) {
  d[[paste0("ee_", i)]] <- item(ubos(z_burn), ubos_labels, 0.02, paste0("UBOS: ", ubos_text[i]))
}
for (i in 1:6) {
  d[[kans_names[i]]] <- item(yes_no(z_kans, kans_thresholds[i]), yes_no_labels, 0.01,
                             paste0("Klachten afgelopen 12 maanden: ", kans_regions[i]))
}
for (i in 1:3) {
  d[[paste0("eenzaam_", i)]] <- item(lonely_item(z_lonely), lonely_labels, 0.015,
                                     lonely_text[i])
}
for (i in 1:4) {
  d[[fys_names[i]]] <- item(yes_no(z_phys, fys_thresholds[i]), yes_no_labels, 0.01,
                            paste0("Lichamelijke klachten: ", fys_regions[i]))
}
# Asked of those who worked (partly) at home; the others are system-missing.
future <- ifelse(runif(n) < 0.8, 1, ifelse(runif(n) < 0.5, 2, 3))
future <- with_missing(future, 0.05, c(8, 9))
future[hours_home == 0] <- NA
d$toekomst_thuis <- lab(
  labelled_spss(future, labels = c(
    "niet van toepassing" = 0, "ja, combineren" = 1, "nee, liever volledig op locatie" = 2,
    "nee, liever volledig thuis" = 3, "weet niet" = 8, "geen antwoord" = 9
  ), na_values = c(8, 9)),
  "Wilt u in de toekomst thuiswerken combineren met werken op locatie?"
)
sitting <- pmin(pmax(round(2 + 4 * (loc != "on_site") + 2.5 * rnorm(n)), 0), 14)
d$zituren <- lab(
  labelled_spss(with_missing(sitting, 0.02, c(98, 99)), labels = hours_labels,
                na_range = c(98, Inf)),
  "Aantal uren zitten per werkdag"
)
d$opmerking <- lab(
  ifelse(runif(n) < 0.03, "telefonisch afgenomen", ""),
  "Opmerking interviewer"
)

# ---------------------------------------------------------------- planted oddities
# Rows are drawn from respondents in the population with valid answers, so each
# oddity is counted on its own (the audit counts codes over all rows read).
set_codes <- function(var, rows, code) {
  x <- d[[var]]
  x[rows] <- code  # `[<-` keeps the labelled_spss class and its attributes
  d[[var]] <<- x
}
pick <- function(k, ok) {
  rows <- which(ok & !(seq_len(n) %in% used))
  rows <- rows[sample.int(length(rows), k)]
  used <<- c(used, rows)
  rows
}
used <- integer(0)
set_codes("leeftijd", pick(5, TRUE), c(14, 14, 75, 75, 80))
set_codes("leeftijd", pick(2, TRUE), 999)
d$ophoogfactor[pick(1, TRUE)] <- 0
set_codes("eenzaam_2", pick(3, unclass(d$eenzaam_2) %in% 1:3), 5)
set_codes("sekse", pick(2, TRUE), 2)
set_codes("toekomst_thuis", pick(3, is.na(unclass(d$toekomst_thuis))), 0)

stopifnot(
  sum(unclass(d$eenzaam_2) == 5, na.rm = TRUE) == 3,
  sum(unclass(d$sekse) == 2) == 2,
  sum(unclass(d$toekomst_thuis) == 0, na.rm = TRUE) == 3,
  sum(unclass(d$leeftijd) == 999) == 2,
  sum(unclass(d$leeftijd) < 15 | (unclass(d$leeftijd) > 74 & unclass(d$leeftijd) != 999)) == 5,
  sum(d$ophoogfactor == 0) == 1,
  !anyDuplicated(d$panelid)
)

write_sav(d, out)

# ReadStat writes the current date and time at byte 92 ("dd mmm yy" "hh:mm:ss");
# fix it so that the file does not change between runs.
size <- file.size(out)
bytes <- readBin(out, "raw", size)
stopifnot(rawToChar(bytes[1:4]) == "$FL2")
bytes[93:109] <- charToRaw("01 Nov 2100:00:00")
writeBin(bytes, out)

cat(sprintf("wrote %s: %d rows, %d variables, %d bytes (haven %s, %s)\n",
            out, nrow(d), ncol(d), size, packageVersion("haven"), R.version.string))
