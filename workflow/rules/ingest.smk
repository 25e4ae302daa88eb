# Synthetic microdata (the default), harmonisation through the codebook, indicators.


rule synthesize:
    output:
        expand(f"{DATA['synthetic_dir']}/{{wave}}.sav", wave=ALL_WAVES),
    params:
        code=CODE_VERSION,
        out_dir=lambda wildcards, output: os.path.dirname(output[0]),
        seed=DATA["seed"],
        scale=DATA["scale"],
        waves_csv=DATA["waves_csv"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/synthesize.log",
    script:
        "../scripts/synthesize.py"


rule harmonize:
    input:
        data=[wave_path(w) for w in READ_WAVES],
        codebook=DATA["codebook"],
    params:
        code=CODE_VERSION,
        strict=DATA["strict"],
        files={w: wave_path(w) for w in READ_WAVES},
    output:
        # One job for every wave: one process start and one SPSS reader for all.
        parquet=expand(f"{RESULTS}/harmonized/{{wave}}.parquet", wave=READ_WAVES),
        audit=expand(f"{RESULTS}/harmonized/{{wave}}.audit.json", wave=READ_WAVES),
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/harmonize.log",
    script:
        "../scripts/harmonize.py"


rule indicators:
    input:
        harmonized=expand(f"{RESULTS}/harmonized/{{wave}}.parquet", wave=WAVES),
        # The baseline wave gives every respondent's sampling stratum, analysed or not.
        baseline=BASELINE_INPUT,
    output:
        analysis=f"{RESULTS}/analysis.parquet",
        # the run's one design bound to the data before any estimate: a design
        # problem stops the run here (same job: one process start)
        design_check=DESIGN_CHECK,
    params:
        code=CODE_VERSION,
        spec=config["indicators"],
        baseline=BASELINE,
        design=config["design"],
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/indicators.log",
    script:
        "../scripts/indicators.py"
