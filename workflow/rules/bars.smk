# The four bars (SPEC §8), each judged against preregistration.md. `judge_bar_X` writes
# results/bars/X.json (always, with an honest verdict); `bar_X` and `bars` are gate
# targets that fail with a non-zero exit when --config strict_bars=true and a bar fails.


rule judge_bar_B:
    input:
        models=[toy_model_file(m, CFG.bars.B.checkpoint) for m in CFG.models],
        prereg=PREREG_FILES,
    output:
        ensure(verdict_file("bars", "B"), non_empty=True),
    params:
        models=CFG.models,
        # each non-anchor model's cross-seed reference: its cohort's anchor
        references={m: c.anchor_model for c in CFG.cohorts.values() for m in c.models if m != c.anchor_model},
        bar=CFG.params("bars.B"),
        task=CFG.params("task"),
        device=CFG.train.device,
    log:
        log_file("judge_bar_B"),
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/bar_b.py"


rule bar_B:
    # a gate with no output: it always runs, prints the verdict, and fails if strict
    input:
        verdict_file("bars", "B"),
    params:
        strict=CFG.strict_bars,
    log:
        log_file("bar_B"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate_check.py"


rule bars:
    input:
        [verdict_file("bars", bar) for bar in BARS],
    output:
        ensure(verdict_file("bars", "summary"), non_empty=True),
    params:
        strict=CFG.strict_bars,
    log:
        log_file("bars"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate_summary.py"
