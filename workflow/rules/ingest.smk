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
        data=wave_file,
        codebook=DATA["codebook"],
    params:
        code=CODE_VERSION,
        strict=DATA["strict"],
    output:
        parquet=f"{RESULTS}/harmonized/{{wave}}.parquet",
        audit=f"{RESULTS}/harmonized/{{wave}}.audit.json",
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/harmonize/{{wave}}.log",
    script:
        "../scripts/harmonize.py"


rule indicators:
    input:
        harmonized=expand(f"{RESULTS}/harmonized/{{wave}}.parquet", wave=WAVES),
        # The baseline wave gives every respondent's sampling stratum, analysed or not.
        baseline=BASELINE_INPUT,
    output:
        f"{RESULTS}/analysis.parquet",
    params:
        code=CODE_VERSION,
        spec=config["indicators"],
        baseline=BASELINE,
    conda:
        "../../environment.yml"
    log:
        f"{LOGS}/indicators.log",
    script:
        "../scripts/indicators.py"
