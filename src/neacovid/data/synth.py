"""Synthetic NEA-like microdata, written as real SPSS ``.sav`` files.

The real NEA 2019 and NEA COVID-19 files are restricted, so the pipeline runs by
default on files made here that look like them: item-level answers with Dutch
variable and value labels, SPSS user-missing codes (8 "weet niet", 9 "geen
antwoord"; 98/99 on hours) declared and present, other variable names and codes
in 2019 than in the COVID-19 files, a panel id linking people across waves, and
a weight (ophooggewicht) summing to the employee population.

How the people are made:
- 2019 is a stratified person sample (strata = SBI section) that oversamples
  small sectors and young people; the weights undo that (raked to population
  margins of sector and age group).
- The COVID-19 waves re-interview 2019 respondents with attrition (young people
  drop out more); their weights are raked again for the wave's year.
- Persistent person traits (plus wave noise) drive complaints, so they persist
  between waves; a telework trait driven by the sector decides who can work at
  home; the pandemic phase decides how many do.
- Young people (15-24) working on location have extra burn-out complaints in
  2021-11 only.

Calibration: the published figures (data/reference/published_figures.csv) are
reproduced by construction. For each wave the work-location shares are set by
weighted quantiles of the telework score, and each indicator's intercept per
wave x location group is found by bisection on the fixed random draws, so that
the weighted share computed by `neacovid.data.indicators` on the harmonised data
equals the target (to within one respondent's weight). Figures that were not
published (other waves, other groups) get plausible values from `SCENARIO`.
This holds at every ``scale``, not only at scale 1.

Determinism: the same seed, scale and waves.csv give byte-identical files.
ReadStat stamps the write time into the .sav header; it is overwritten with the
first day of the wave's fieldwork.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from neacovid.data.config import REPO, fieldwork_start
from neacovid.data.indicators import DEFAULT_SPEC, any_flag, mean_flag, sum_flag
from neacovid.data.io import atomic_path
from neacovid.errors import ConfigError, InputFileError

DEFAULT_WAVES_CSV = REPO / "data" / "reference" / "waves.csv"
DEFAULT_SEED = 20211101

# SBI 2008 sections: code in the COVID files, Dutch label, share of employees,
# share of jobs that can be done at home, office (sitting) work.
SECTORS = [
    # letter, label, population share, telework share, office work
    ("A", "Landbouw, bosbouw en visserij", 0.014, 0.08, 0.2),
    ("B", "Delfstoffenwinning", 0.002, 0.45, 0.5),
    ("C", "Industrie", 0.098, 0.35, 0.4),
    ("D", "Energievoorziening", 0.004, 0.65, 0.6),
    ("E", "Waterbedrijven en afvalbeheer", 0.005, 0.30, 0.4),
    ("F", "Bouwnijverheid", 0.050, 0.20, 0.3),
    ("G", "Handel", 0.165, 0.22, 0.3),
    ("H", "Vervoer en opslag", 0.050, 0.18, 0.3),
    ("I", "Horeca", 0.058, 0.06, 0.1),
    ("J", "Informatie en communicatie", 0.036, 0.92, 0.9),
    ("K", "Financiële dienstverlening", 0.025, 0.93, 0.9),
    ("L", "Verhuur en handel van onroerend goed", 0.008, 0.75, 0.8),
    ("M", "Specialistische zakelijke diensten", 0.062, 0.82, 0.8),
    ("N", "Verhuur en overige zakelijke diensten", 0.088, 0.35, 0.4),
    ("O", "Openbaar bestuur en overheidsdiensten", 0.056, 0.85, 0.8),
    ("P", "Onderwijs", 0.066, 0.55, 0.5),
    ("Q", "Gezondheids- en welzijnszorg", 0.158, 0.20, 0.3),
    ("R", "Cultuur, sport en recreatie", 0.018, 0.35, 0.4),
    ("S", "Overige dienstverlening", 0.027, 0.35, 0.4),
]

AGE_BANDS = [(15, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 74)]
POP_AGE_SHARES = np.array([0.155, 0.225, 0.200, 0.220, 0.175, 0.025])
# Young people are oversampled (and drop out of the panel more often).
SAMPLE_AGE_SHARES = np.array([0.24, 0.20, 0.17, 0.19, 0.17, 0.03])


@dataclass(frozen=True)
class WaveScenario:
    """What a wave looks like: population, location shares (%), indicator targets (%).

    Targets are per location group ("all", or "on_site" and "home_any"); the
    ones marked "published" come from published_figures.csv.
    """

    population: float
    location: tuple[float, float, float]  # on_site, hybrid, home
    burnout: dict
    kans: dict
    lonely: dict
    physical: dict
    future_hybrid: float | None  # share among home_any workers; None: item not asked


SCENARIO = {
    "2019": WaveScenario(
        7.65e6,
        (78, 19, 3),
        burnout={"all": 17.0},  # published: burnout_all_2019
        kans={"all": 40.0},
        lonely={"all": 13.5},
        physical={"all": 37.0},
        future_hybrid=None,
    ),
    "2020-06": WaveScenario(
        7.70e6,
        (60, 16, 24),  # published: home_any_2020_06 = 40
        burnout={"on_site": 15.5, "home_any": 16.2},
        kans={"on_site": 37.0, "home_any": 38.5},
        lonely={"on_site": 10.5, "home_any": 13.5},
        physical={"on_site": 36.5, "home_any": 29.0},
        future_hybrid=None,
    ),
    "2020-11": WaveScenario(
        7.72e6,
        (55, 17, 28),
        burnout={"on_site": 15.8, "home_any": 17.0},
        kans={"on_site": 37.0, "home_any": 38.0},
        lonely={"on_site": 10.5, "home_any": 13.0},
        physical={"on_site": 36.0, "home_any": 28.5},
        future_hybrid=75.0,
    ),
    "2021-03": WaveScenario(
        7.74e6,
        (51, 17, 32),  # published: home_any_2021_03 = 49
        burnout={"on_site": 15.2, "home_any": 17.7},  # published (secondary source)
        kans={"on_site": 37.0, "home_any": 38.0},
        lonely={"on_site": 10.5, "home_any": 13.0},
        physical={"on_site": 36.0, "home_any": 28.5},
        future_hybrid=78.0,
    ),
    "2021-11": WaveScenario(
        7.86e6,
        (57, 18, 25),  # published: loc_*_2021_11, home_any_2021_11 = 43
        burnout={"on_site": 19.0, "home_any": 16.9},  # published
        kans={"on_site": 37.0, "home_any": 37.5},  # home_any published
        lonely={"on_site": 10.5, "home_any": 12.5},  # home_any published
        physical={"on_site": 36.0, "home_any": 28.0},  # on_site published
        future_hybrid=80.0,  # published
    ),
    "2023-06": WaveScenario(
        8.00e6,
        (52, 34, 14),
        burnout={"on_site": 18.0, "home_any": 17.2},
        kans={"on_site": 37.0, "home_any": 38.0},
        lonely={"on_site": 10.0, "home_any": 11.5},
        physical={"on_site": 36.0, "home_any": 28.0},
        future_hybrid=85.0,
    ),
}
# A panel wave not in SCENARIO (a user's own waves.csv) looks like late 2021.
FALLBACK_SCENARIO = SCENARIO["2021-11"]

# Share of answers that are a user-missing code (8/9 or 98/99).
P_ITEM_MISSING = {"ee": 0.012, "yesno": 0.004, "lonely": 0.008, "hours": 0.006, "sitting": 0.01}
P_ZERO_HOURS = 0.004  # worked no hours that week (leave, sickness): location unknown
P_FUTURE_DONT_KNOW = 0.04
# Share of the variance of a complaint latent that is a stable person trait.
PERSISTENCE = 0.65

YES_NO_2019 = {1: "ja", 2: "nee", 8: "weet niet", 9: "geen antwoord"}
YES_NO_COVID = {0: "nee", 1: "ja", 8: "weet niet", 9: "geen antwoord"}
UBOS_LABELS = {
    1: "nooit",
    2: "een paar keer per jaar of minder",
    3: "eens per maand of minder",
    4: "een paar keer per maand",
    5: "eens per week",
    6: "een paar keer per week",
    7: "elke dag",
    8: "weet niet",
    9: "geen antwoord",
}
LONELY_LABELS = {1: "(bijna) nooit", 2: "soms", 3: "vaak", 8: "weet niet", 9: "geen antwoord"}
HOURS_LABELS = {98: "weet niet", 99: "geen antwoord"}
EDUCATION_LABELS = {1: "laag", 2: "middelbaar", 3: "hoog"}
UBOS_TEXT = [
    "Ik voel me mentaal uitgeput door mijn werk",
    "Aan het eind van een werkdag voel ik me leeg",
    "Ik voel me vermoeid als ik 's morgens opsta en er weer een werkdag voor me ligt",
    "De hele dag werken vormt een zware belasting voor mij",
    "Ik voel me 'opgebrand' door mijn werk",
]
KANS_REGIONS = ["nek", "schouder", "bovenrug", "arm", "elleboog", "pols/hand"]
KANS_COVID_NAMES = [
    "kans_nek",
    "kans_schouder",
    "kans_bovenrug",
    "kans_arm",
    "kans_elleboog",
    "kans_pols",
]
PHYS_REGIONS = ["lage rug", "heupen", "benen/knieën", "voeten/enkels"]
PHYS_2019_NAMES = ["KLRUG", "KLHEUP", "KLBEEN", "KLVOET"]
PHYS_COVID_NAMES = ["fys_rug", "fys_heup", "fys_been", "fys_voet"]
LONELY_TEXT = [
    "Hoe vaak heeft u het gevoel dat u gezelschap mist?",
    "Hoe vaak voelt u zich buitengesloten?",
    "Hoe vaak voelt u zich geïsoleerd van anderen?",
]

# Item models: item thresholds on the latent scale.
KANS_THRESHOLDS = np.array([0.9, 1.1, 1.7, 1.8, 2.1, 1.5])
PHYS_THRESHOLDS = np.array([0.9, 1.9, 1.4, 2.0])
LONELY_THRESHOLDS = (0.5, 1.5)


def write_waves(
    out_dir: str | os.PathLike,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    waves_csv: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Write one synthetic ``<wave>.sav`` per row of waves.csv; return {wave: path}.

    The first row of waves.csv is the regular NEA (2019 layout); every later row
    is a COVID-19 panel wave of its respondents. A wave has
    ``round(respondents * scale)`` rows.
    """
    waves = _read_waves(Path(waves_csv) if waves_csv is not None else DEFAULT_WAVES_CSV)
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ConfigError(f"data.scale must be a positive number, got {scale!r}")
    sizes = {
        w: int(round(r * scale)) for w, r in zip(waves["wave"], waves["respondents"], strict=True)
    }
    too_small = [w for w, n in sizes.items() if n < 10]
    if too_small:
        raise ConfigError(
            f"data.scale={scale} leaves fewer than 10 respondents in wave(s) "
            f"{', '.join(too_small)}; use a larger scale"
        )
    frames = generate(waves, seed=int(seed), scale=float(scale))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for row in waves.itertuples(index=False):
        frame, meta = frames[row.wave]
        path = out_dir / f"{row.wave}.sav"
        _write_sav(frame, meta, path, row, seed, scale)
        paths[row.wave] = path
    return paths


def generate(waves: pd.DataFrame, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict:
    """Make the wave files in memory: {wave: (file-layout DataFrame, SPSS metadata)}."""
    seeds = np.random.SeedSequence(seed).spawn(len(waves) + 1)
    baseline = waves.iloc[0]
    people = _people(int(round(baseline["respondents"] * scale)), np.random.default_rng(seeds[0]))
    t0 = _wave_time(baseline["fieldwork"])
    out = {}
    for i, row in enumerate(waves.itertuples(index=False)):
        rng = np.random.default_rng(seeds[i + 1])
        is_baseline = i == 0
        scenario = SCENARIO.get(row.wave, FALLBACK_SCENARIO)
        n = int(round(row.respondents * scale))
        if n > len(people["resp_id"]):
            raise ConfigError(
                f"waves.csv: wave {row.wave} has more respondents ({row.respondents}) than the "
                f"first wave it re-interviews; check the respondents column"
            )
        wave = _wave(
            people, n, is_baseline, _wave_time(row.fieldwork) - t0, row.wave, scenario, rng
        )
        out[row.wave] = _layout_2019(wave) if is_baseline else _layout_covid(wave, i)
    return out


# --------------------------------------------------------------------------- people


def _people(n: int, rng: np.random.Generator) -> dict:
    """The 2019 sample: demographics, sector and persistent latent traits."""
    band = rng.choice(len(AGE_BANDS), size=n, p=SAMPLE_AGE_SHARES)
    low = np.array([b[0] for b in AGE_BANDS])[band]
    high = np.array([b[1] for b in AGE_BANDS])[band]
    exact_age = low + rng.random(n) * (high - low + 1)  # years, with the birthday fraction

    pop_share = np.array([s[2] for s in SECTORS])
    pop_share = pop_share / pop_share.sum()
    sample_share = pop_share**0.6  # small sectors oversampled
    sample_share /= sample_share.sum()
    sector = rng.choice(len(SECTORS), size=n, p=sample_share)
    # Every stratum needs at least two respondents for variance estimation.
    for s in range(len(SECTORS)):
        short = 2 - np.sum(sector == s)
        if short > 0:
            big = np.flatnonzero(sector == np.argmax(np.bincount(sector, minlength=len(SECTORS))))
            sector[big[:short]] = s

    female = rng.random(n) < 0.49
    young = exact_age < 25
    telework_p = np.array([s[3] for s in SECTORS])[sector]
    health = rng.standard_normal(n)
    traits = {
        name: load * health + np.sqrt(1 - load**2) * rng.standard_normal(n)
        for name, load in (("burnout", 0.4), ("kans", 0.5), ("lonely", 0.3), ("physical", 0.5))
    }
    traits["burnout"] += 0.15 * female
    traits["kans"] += 0.015 * (exact_age - 40) + 0.2 * female
    traits["physical"] += 0.02 * (exact_age - 40) + 0.6 * (
        1 - np.array([s[4] for s in SECTORS])[sector]
    )
    traits["lonely"] += 0.3 * young
    telework = _logit(telework_p) + 1.3 * rng.standard_normal(n)
    # People in tele-workable jobs report slightly fewer complaints.
    traits["burnout"] -= 0.02 * telework
    hours = np.where(female, rng.normal(28, 7, n), rng.normal(36, 6, n)) - 6 * young
    hours = np.clip(np.round(hours), 8, 60)
    education = np.clip(
        np.round(1 + 2 * _expit(1.2 * telework + rng.normal(0, 1, n) - 0.3) + 0.3), 1, 3
    )

    return {
        "resp_id": 100000 + rng.choice(900000, size=n, replace=False),
        "exact_age": exact_age,
        "band": band,
        "sector": sector,
        "pop_share": pop_share,
        "sample_share": sample_share,
        "female": female,
        "traits": traits,
        "telework": telework,
        "office": np.array([s[4] for s in SECTORS])[sector],
        "hours": hours,
        "education": education,
        "contract": rng.choice([1, 2, 3], size=n, p=[0.72, 0.18, 0.10]),
        "participation": -0.6 * young + 0.3 * (education - 2) + rng.standard_normal(n),
        "sitting": rng.standard_normal(n),
    }


# --------------------------------------------------------------------------- one wave

_SHARED_KEYS = ("pop_share", "sample_share")  # not per person


def _wave(people, n, is_baseline, dt, wave_id, sc: WaveScenario, rng) -> dict:
    n_all = len(people["resp_id"])
    if is_baseline:
        idx = np.arange(n_all)
    else:  # re-interview: the most willing respondents of this wave
        score = people["participation"] + 0.6 * rng.standard_normal(n_all)
        idx = np.sort(np.argsort(-score, kind="stable")[:n])
    p = {k: (v if k in _SHARED_KEYS else v[idx]) for k, v in people.items() if k != "traits"}
    p["traits"] = {k: v[idx] for k, v in people["traits"].items()}

    age = np.floor(p["exact_age"] + dt).astype(int)
    band = np.clip(np.searchsorted([b[1] for b in AGE_BANDS], age), 0, len(AGE_BANDS) - 1)
    in_pop = (age >= 15) & (age <= 74)

    weight = _weights(p, band, is_baseline, sc.population, rng)

    # Location: hours items that are missing, or zero, leave it unknown.
    home_missing = rng.random(n) < P_ITEM_MISSING["hours"]
    loc_missing = rng.random(n) < P_ITEM_MISSING["hours"]
    zero_week = rng.random(n) < P_ZERO_HOURS
    known = in_pop & ~home_missing & ~loc_missing & ~zero_week
    on_site_pct, hybrid_pct, home_pct = sc.location
    any_score = p["telework"] + 0.6 * rng.standard_normal(n)
    home_any = any_score >= _top_share_threshold(
        any_score[known], weight[known], (hybrid_pct + home_pct) / 100
    )
    full_score = 0.5 * p["telework"] + rng.standard_normal(n)
    among = known & home_any
    full = full_score >= _top_share_threshold(
        full_score[among], weight[among], home_pct / (hybrid_pct + home_pct)
    )
    location = np.where(home_any, np.where(full, 2, 1), 0)  # 0 on_site, 1 hybrid, 2 home

    total = np.clip(p["hours"] + np.round(rng.normal(0, 2, n)), 4, 70)
    frac = rng.uniform(0.2, 0.8, n)
    hours_home = np.select(
        [location == 0, location == 1], [0, np.clip(np.round(total * frac), 1, total - 1)], total
    )
    hours_location = total - hours_home
    hours_home[zero_week] = 0
    hours_location[zero_week] = 0
    total[zero_week] = 0

    group = _groups(location, known)
    young_on_site = (age < 25) & (location == 0)
    x = {}
    for name in ("burnout", "kans", "lonely", "physical"):
        x[name] = np.sqrt(PERSISTENCE) * p["traits"][name] + np.sqrt(
            1 - PERSISTENCE
        ) * rng.standard_normal(n)
    if wave_id == "2021-11":  # young people on location fared worse late 2021
        x["burnout"] = x["burnout"] + 0.35 * young_on_site
    x["lonely"] = x["lonely"] + 0.25 * (location == 2)
    x["kans"] = x["kans"] + 0.15 * (location >= 1)

    items = {
        "ee": _calibrated(
            _ee_items,
            x["burnout"],
            sc.burnout,
            group,
            in_pop,
            weight,
            DEFAULT_SPEC["burnout"],
            mean_flag,
            5,
            P_ITEM_MISSING["ee"],
            (8, 9),
            rng,
        ),
        "kans": _calibrated(
            _kans_items,
            x["kans"],
            sc.kans,
            group,
            in_pop,
            weight,
            DEFAULT_SPEC["kans"],
            any_flag,
            6,
            P_ITEM_MISSING["yesno"],
            (8, 9),
            rng,
        ),
        "lonely": _calibrated(
            _lonely_items,
            x["lonely"],
            sc.lonely,
            group,
            in_pop,
            weight,
            DEFAULT_SPEC["lonely"],
            sum_flag,
            3,
            P_ITEM_MISSING["lonely"],
            (8, 9),
            rng,
        ),
        "phys": _calibrated(
            _phys_items,
            x["physical"],
            sc.physical,
            group,
            in_pop,
            weight,
            DEFAULT_SPEC["physical"],
            any_flag,
            4,
            P_ITEM_MISSING["yesno"],
            (8, 9),
            rng,
        ),
    }

    # Future preference (1 combine, 2 rather fully on location, 3 rather fully at home),
    # asked of those who worked (partly) at home.
    future = None
    if sc.future_hybrid is not None:
        asked = hours_home > 0
        dont_know = rng.random(n) < P_FUTURE_DONT_KNOW
        no_answer = rng.random(n) < 0.005
        score = rng.standard_normal(n) - 0.3 * (location == 2)
        cal = known & home_any & ~dont_know & ~no_answer
        yes = score >= _top_share_threshold(score[cal], weight[cal], sc.future_hybrid / 100)
        rather_home = (location == 2) & (rng.random(n) < 0.6) | (location == 1) & (
            rng.random(n) < 0.3
        )
        future = np.where(yes, 1.0, np.where(rather_home, 3.0, 2.0))
        future[dont_know] = 8
        future[no_answer & ~dont_know] = 9
        future[~asked] = np.nan

    sitting = (
        1.5 + 5.0 * p["office"] + 1.0 * (location >= 1) + 1.2 * p["sitting"] + rng.normal(0, 0.8, n)
    )
    sitting = np.clip(np.round(sitting), 0, 14)
    sitting = _with_missing(sitting, P_ITEM_MISSING["sitting"], (98, 99), rng)

    hours_home = np.where(home_missing, rng.choice([98, 99], n, p=[0.7, 0.3]), hours_home).astype(
        float
    )
    hours_location = np.where(
        loc_missing, rng.choice([98, 99], n, p=[0.7, 0.3]), hours_location
    ).astype(float)
    total = np.where(loc_missing, rng.choice([98, 99], n, p=[0.7, 0.3]), total).astype(float)

    return {
        "resp_id": p["resp_id"],
        "weight": weight,
        "age": age,
        "female": p["female"],
        "sector": p["sector"],
        "education": p["education"],
        "contract": p["contract"],
        "hours_home": hours_home,
        "hours_location": hours_location,
        "hours_total": total,
        "items": items,
        "future": future,
        "sitting": sitting,
    }


def _weights(p, band, is_baseline, population, rng) -> np.ndarray:
    """Inverse selection probabilities, attrition-adjusted, raked to population margins."""
    sector = p["sector"]
    design = (
        p["pop_share"][sector]
        / p["sample_share"][sector]
        * (POP_AGE_SHARES[band] / SAMPLE_AGE_SHARES[band])
    )
    if not is_baseline:  # the willing are over-represented
        design = design * np.exp(-0.4 * p["participation"])
    w = design * np.exp(0.2 * rng.standard_normal(len(sector)))
    sector_totals = population * p["pop_share"]
    age_totals = population * POP_AGE_SHARES
    for _ in range(30):
        for codes, totals in ((sector, sector_totals), (band, age_totals)):
            got = np.bincount(codes, w, minlength=len(totals))
            w = w * np.where(got > 0, totals / np.where(got > 0, got, 1), 1.0)[codes]
    w = w * population / w.sum()
    return np.round(w, 4)


def _groups(location, known) -> np.ndarray:
    """Calibration group per row: 0 on_site, 1 home_any, -1 location unknown."""
    return np.where(known, np.where(location >= 1, 1, 0), -1)


def _calibrated(
    make_items, x, targets, group, in_pop, weight, spec, rule, k, p_missing, codes, rng
):
    """Items whose indicator hits each target share per location group.

    ``make_items(latent, noise)`` gives answer codes; the intercept per group is
    found by bisection (the indicator only grows with it), on fixed draws.
    """
    n = len(x)
    noise = rng.standard_normal((n, k))
    missing = rng.random((n, k)) < p_missing
    missing_code = np.where(rng.random((n, k)) < 0.7, codes[0], codes[1])
    args = [spec["cutoff"], spec["min_items"]] if "cutoff" in spec else [spec["min_items"]]

    def flags(rows, shift):
        values = make_items(x[rows] + shift, noise[rows]).astype(float)
        values[missing[rows]] = np.nan
        return rule(values, *args)

    shift = np.zeros(n)
    cells = (
        {"all": np.ones(n, bool)}
        if "all" in targets
        else {
            "on_site": group == 0,
            "home_any": group == 1,
        }
    )
    for name, member in cells.items():
        rows = np.flatnonzero(member & in_pop)
        if len(rows) == 0:
            continue
        shift[member] = _bisect(
            lambda s, rows=rows: _wshare(flags(rows, s), weight[rows]), targets[name] / 100
        )
    if "all" not in targets:  # unknown location: the on-site intercept
        shift[group == -1] = shift[group == 0][0] if np.any(group == 0) else 0.0
    values = make_items(x + shift, noise).astype(float)
    values[missing] = missing_code[missing]
    return values


def _bisect(share_at, target: float, lo: float = -8.0, hi: float = 8.0) -> float:
    for _ in range(40):
        mid = (lo + hi) / 2
        if share_at(mid) < target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda s: abs(share_at(s) - target))


def _wshare(flag: np.ndarray, w: np.ndarray) -> float:
    ok = ~np.isnan(flag)
    total = w[ok].sum()
    return float(np.dot(w[ok], flag[ok]) / total) if total > 0 else 0.0


def _top_share_threshold(score: np.ndarray, w: np.ndarray, share: float) -> float:
    """Threshold t such that rows with score >= t hold (about) ``share`` of the weight."""
    if len(score) == 0:
        return np.inf
    order = np.argsort(-score, kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(w[order])]) / w.sum()
    k = int(np.argmin(np.abs(cum - share)))
    return np.inf if k == 0 else float(score[order[k - 1]])


def _ee_items(latent, noise):
    return np.clip(np.round(2.0 + 1.7 * latent[:, None] + 0.9 * noise), 1, 7)


def _kans_items(latent, noise):
    return (latent[:, None] + 0.9 * noise > KANS_THRESHOLDS).astype(float)


def _phys_items(latent, noise):
    return (latent[:, None] + 0.9 * noise > PHYS_THRESHOLDS).astype(float)


def _lonely_items(latent, noise):
    v = latent[:, None] + 0.8 * noise
    return 1.0 + (v > LONELY_THRESHOLDS[0]) + (v > LONELY_THRESHOLDS[1])


def _with_missing(values, p, codes, rng) -> np.ndarray:
    values = values.astype(float).copy()
    hit = rng.random(len(values)) < p
    values[hit] = np.where(rng.random(hit.sum()) < 0.7, codes[0], codes[1])
    return values


# --------------------------------------------------------------------------- file layouts


@dataclass
class _Meta:
    labels: dict
    value_labels: dict
    missing: dict
    formats: dict
    measures: dict


def _layout_2019(w) -> tuple[pd.DataFrame, _Meta]:
    letters = np.array([s[0] for s in SECTORS], dtype=object)
    cols = {
        "respnr": w["resp_id"].astype(float),
        "gewicht": w["weight"],
        "lftd": w["age"].astype(float),
        "geslacht": np.where(w["female"], 2.0, 1.0),
        "SBI2008": letters[w["sector"]],
        "OPLNIV": w["education"],
        "CONTRACT": w["contract"].astype(float),
        "ARBDUUR": w["hours_total"],
        "THUISUUR": w["hours_home"],
    }
    meta = _Meta(
        labels={
            "respnr": "Respondentnummer (koppelsleutel panel)",
            "gewicht": "Ophooggewicht naar de populatie werknemers 15-74 jaar",
            "lftd": "Leeftijd in jaren",
            "geslacht": "Geslacht",
            "SBI2008": "Sector (SBI 2008 sectie), steekproefstratum",
            "OPLNIV": "Opleidingsniveau",
            "CONTRACT": "Type arbeidscontract",
            "ARBDUUR": "Gemiddeld aantal gewerkte uren per week",
            "THUISUUR": "Gemiddeld aantal uren per week thuis gewerkt",
            "ZITUUR": "Aantal uren zitten per werkdag",
        },
        value_labels={
            "geslacht": {1: "man", 2: "vrouw"},
            "SBI2008": {s[0]: s[1] for s in SECTORS},
            "OPLNIV": EDUCATION_LABELS,
            "CONTRACT": {1: "vast", 2: "tijdelijk", 3: "flexibel / oproep"},
            "ARBDUUR": HOURS_LABELS,
            "THUISUUR": HOURS_LABELS,
            "ZITUUR": HOURS_LABELS,
        },
        missing={"ARBDUUR": [98, 99], "THUISUUR": [98, 99], "ZITUUR": [98, 99]},
        formats={
            "respnr": "F8.0",
            "gewicht": "F12.4",
            "lftd": "F3.0",
            "geslacht": "F1.0",
            "SBI2008": "A1",
            "OPLNIV": "F1.0",
            "CONTRACT": "F1.0",
            "ARBDUUR": "F3.0",
            "THUISUUR": "F3.0",
            "ZITUUR": "F3.0",
        },
        measures={
            "respnr": "nominal",
            "gewicht": "scale",
            "lftd": "scale",
            "geslacht": "nominal",
            "SBI2008": "nominal",
            "OPLNIV": "ordinal",
            "CONTRACT": "nominal",
            "ARBDUUR": "scale",
            "THUISUUR": "scale",
            "ZITUUR": "scale",
        },
    )
    _items_2019(cols, meta, w)
    cols["ZITUUR"] = w["sitting"]
    return pd.DataFrame(cols), meta


def _items_2019(cols, meta, w) -> None:
    for i in range(5):
        _add_item(
            cols,
            meta,
            f"UBOS{i + 1}",
            w["items"]["ee"][:, i],
            f"UBOS: {UBOS_TEXT[i]}",
            UBOS_LABELS,
            "ordinal",
        )
    for i, region in enumerate(KANS_REGIONS):
        yes_no = np.where(w["items"]["kans"][:, i] == 0, 2.0, w["items"]["kans"][:, i])
        _add_item(
            cols,
            meta,
            f"KANS{i + 1}",
            yes_no,
            f"Klachten afgelopen 12 maanden: {region}",
            YES_NO_2019,
            "nominal",
        )
    for i in range(3):
        _add_item(
            cols,
            meta,
            f"EENZ{i + 1}",
            w["items"]["lonely"][:, i],
            LONELY_TEXT[i],
            LONELY_LABELS,
            "ordinal",
        )
    for i, (name, region) in enumerate(zip(PHYS_2019_NAMES, PHYS_REGIONS, strict=True)):
        yes_no = np.where(w["items"]["phys"][:, i] == 0, 2.0, w["items"]["phys"][:, i])
        _add_item(
            cols, meta, name, yes_no, f"Lichamelijke klachten: {region}", YES_NO_2019, "nominal"
        )


def _layout_covid(w, wave_number: int) -> tuple[pd.DataFrame, _Meta]:
    n = len(w["resp_id"])
    cols = {
        "panelid": w["resp_id"].astype(float),
        "meting": np.full(n, float(wave_number)),
        "ophoogfactor": w["weight"],
        "leeftijd": w["age"].astype(float),
        "sekse": np.where(w["female"], 1.0, 0.0),
        "sector": w["sector"] + 1.0,
        "opleiding": w["education"],
        "uren_thuis": w["hours_home"],
        "uren_locatie": w["hours_location"],
    }
    meta = _Meta(
        labels={
            "panelid": "Panelnummer (respondentnummer NEA 2019)",
            "meting": "Meting NEA COVID-19",
            "ophoogfactor": "Ophoogfactor naar de populatie werknemers 15-74 jaar",
            "leeftijd": "Leeftijd in jaren op de peildatum",
            "sekse": "Geslacht",
            "sector": "Sector (SBI 2008 sectie), steekproefstratum",
            "opleiding": "Opleidingsniveau",
            "uren_thuis": "Aantal uren thuis gewerkt in de afgelopen week",
            "uren_locatie": "Aantal uren op locatie (buitenshuis) gewerkt in de afgelopen week",
            "toekomst_thuis": "Wilt u in de toekomst thuiswerken combineren met werken op locatie?",
            "zituren": "Aantal uren zitten per werkdag",
        },
        value_labels={
            "sekse": {0: "man", 1: "vrouw"},
            "sector": {i + 1: f"{s[0]} {s[1]}" for i, s in enumerate(SECTORS)},
            "opleiding": EDUCATION_LABELS,
            "uren_thuis": HOURS_LABELS,
            "uren_locatie": HOURS_LABELS,
            "zituren": HOURS_LABELS,
            "toekomst_thuis": {
                1: "ja, combineren",
                2: "nee, liever volledig op locatie",
                3: "nee, liever volledig thuis",
                8: "weet niet",
                9: "geen antwoord",
            },
        },
        missing={
            "uren_thuis": [98, 99],
            "uren_locatie": [98, 99],
            "zituren": [98, 99],
            "toekomst_thuis": [8, 9],
        },
        formats={
            "panelid": "F8.0",
            "meting": "F1.0",
            "ophoogfactor": "F12.4",
            "leeftijd": "F3.0",
            "sekse": "F1.0",
            "sector": "F2.0",
            "opleiding": "F1.0",
            "uren_thuis": "F3.0",
            "uren_locatie": "F3.0",
            "toekomst_thuis": "F1.0",
            "zituren": "F3.0",
        },
        measures={
            "panelid": "nominal",
            "meting": "ordinal",
            "ophoogfactor": "scale",
            "leeftijd": "scale",
            "sekse": "nominal",
            "sector": "nominal",
            "opleiding": "ordinal",
            "uren_thuis": "scale",
            "uren_locatie": "scale",
            "toekomst_thuis": "nominal",
            "zituren": "scale",
        },
    )
    for i in range(5):
        _add_item(
            cols,
            meta,
            f"ee_{i + 1}",
            w["items"]["ee"][:, i],
            f"UBOS: {UBOS_TEXT[i]}",
            UBOS_LABELS,
            "ordinal",
        )
    for i, (name, region) in enumerate(zip(KANS_COVID_NAMES, KANS_REGIONS, strict=True)):
        _add_item(
            cols,
            meta,
            name,
            w["items"]["kans"][:, i],
            f"Klachten afgelopen 12 maanden: {region}",
            YES_NO_COVID,
            "nominal",
        )
    for i in range(3):
        _add_item(
            cols,
            meta,
            f"eenzaam_{i + 1}",
            w["items"]["lonely"][:, i],
            LONELY_TEXT[i],
            LONELY_LABELS,
            "ordinal",
        )
    for i, (name, region) in enumerate(zip(PHYS_COVID_NAMES, PHYS_REGIONS, strict=True)):
        _add_item(
            cols,
            meta,
            name,
            w["items"]["phys"][:, i],
            f"Lichamelijke klachten: {region}",
            YES_NO_COVID,
            "nominal",
        )
    if w["future"] is not None:
        cols["toekomst_thuis"] = w["future"]
    cols["zituren"] = w["sitting"]
    return pd.DataFrame(cols), meta


def _add_item(cols, meta: _Meta, name, values, label, value_labels, measure) -> None:
    cols[name] = values
    meta.labels[name] = label
    meta.value_labels[name] = value_labels
    meta.missing[name] = [8, 9]
    meta.formats[name] = "F1.0"
    meta.measures[name] = measure


def _write_sav(frame: pd.DataFrame, meta: _Meta, path: Path, row, seed, scale) -> None:
    import pyreadstat

    columns = list(frame.columns)
    with atomic_path(path) as tmp:
        pyreadstat.write_sav(
            frame,
            str(tmp),
            row_compress=True,  # SPSS's usual bytecode compression
            file_label=f"{row.label_nl} (synthetisch)"[:64],
            column_labels={c: meta.labels[c] for c in columns if c in meta.labels},
            note=[
                "Synthetische data: geen echte respondenten.",
                f"neacovid.data.synth seed={seed} scale={scale}",
            ],
            variable_value_labels={c: v for c, v in meta.value_labels.items() if c in columns},
            missing_ranges={c: v for c, v in meta.missing.items() if c in columns},
            variable_format={c: v for c, v in meta.formats.items() if c in columns},
            variable_measure={c: v for c, v in meta.measures.items() if c in columns},
        )
        _fix_timestamp(tmp, row.fieldwork)


# The .sav header: "$FL2" (4), product (60), layout, case size, compression,
# weight index, case count (4 each), bias (8), then date "dd mmm yy" (9) and
# time "hh:mm:ss" (8).
_DATE_OFFSET = 92
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _fix_timestamp(path: Path, fieldwork: str) -> None:
    year, month = fieldwork_start(fieldwork)
    stamp = f"01 {_MONTHS[month - 1]} {year % 100:02d}00:00:00".encode("ascii")
    with open(path, "r+b") as fh:
        head = fh.read(_DATE_OFFSET + len(stamp))
        if head[:4] != b"$FL2":
            raise InputFileError(
                f"{path}: pyreadstat wrote an unexpected header; cannot fix its date"
            )
        fh.seek(_DATE_OFFSET)
        fh.write(stamp)


# --------------------------------------------------------------------------- helpers


def _read_waves(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputFileError(
            f"{path}: waves file not found; point waves_csv at data/reference/waves.csv"
        )
    waves = pd.read_csv(path, dtype={"wave": str})
    need = {"wave", "label_nl", "fieldwork", "respondents"}
    absent = need - set(waves.columns)
    if absent:
        raise InputFileError(f"{path}: column(s) {', '.join(sorted(absent))} missing")
    if waves.empty:
        raise InputFileError(f"{path}: no waves listed")
    if waves["wave"].duplicated().any():
        raise InputFileError(
            f"{path}: wave {waves['wave'][waves['wave'].duplicated()].iloc[0]} listed twice"
        )
    for f in waves["fieldwork"]:
        fieldwork_start(f)
    return waves


def _wave_time(fieldwork: str) -> float:
    year, month = fieldwork_start(fieldwork)
    return year + (month - 0.5) / 12


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))
