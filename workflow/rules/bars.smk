# The four bars (SPEC §8), each judged against preregistration.md. `judge_bar_X` writes
# results/bars/X.json (always, with an honest verdict); `bar_X` and `bars` are gate
# targets that fail with a non-zero exit when --config strict_bars=true and a bar fails.

PREREG_FILES = [CFG.preregistration, CFG.preregistration_lock]
# Bars that exist so far; P, C and Pr plug in here with their own judge rule.
BARS = ["B"]


rule judge_bar_B:
    input:
        models=expand(RESULTS / "toy/models/{model}/{which}/model.safetensors", model=CFG.models, which=CFG.bar_b.checkpoint),
        prereg=PREREG_FILES,
    output:
        RESULTS / "bars/B.json",
    params:
        models=CFG.models,
        bar=CFG.raw["bars"]["B"],
        task=CFG.raw["task"],
    log:
        RESULTS / "logs/judge_bar_B.log",
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/bar_b.py"


rule bar_B:
    input:
        RESULTS / "bars/B.json",
    params:
        strict=CFG.strict_bars,
    log:
        RESULTS / "logs/bar_B.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate.py"


rule bars:
    input:
        expand(RESULTS / "bars/{bar}.json", bar=BARS),
    output:
        RESULTS / "bars/summary.tsv",
    params:
        strict=CFG.strict_bars,
    log:
        RESULTS / "logs/bars.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate.py"
