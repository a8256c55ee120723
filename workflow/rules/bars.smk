# The four bars (docs/methods.md §8), each judged against preregistration.md on every toy model
# (within-seed), every non-anchor model against its cohort anchor (cross-seed), and the decoy
# beside them. `judge_bar_X` writes results/bars/X.json (always, with an honest verdict);
# `bar_X` and `bars` are gate targets that fail with a non-zero exit when
# --config strict_bars=true and a bar fails.


rule make_decoy:
    input:
        bar_model_file(DECOY_OF),
    output:
        decoy_file(),
    log:
        log_file("make_decoy"),
    conda:
        CONDA_ENV
    script:
        "../scripts/make_decoy.py"


rule judge_bar_B:
    input:
        models=[bar_model_file(m) for m in CFG.models],
        decoy=decoy_file(),
        prereg=PREREG_FILES,
    output:
        ensure(verdict_file("bars", "B"), non_empty=True),
    params:
        models=CFG.models,
        references=BAR_REFERENCES,
        decoy=DECOY_PARAMS,
        checkpoint=CFG.bars.checkpoint,
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


rule study_search_P:
    # Bar P as the study's code searches for it, for every unit (never judged; its own job,
    # which runs beside the other bars)
    input:
        models=[bar_model_file(m) for m in CFG.models],
        decoy=decoy_file(),
    output:
        ensure(study_search_file(), non_empty=True),
    params:
        models=CFG.models,
        references=BAR_REFERENCES,
        decoy=DECOY_PARAMS,
        search=CFG.params("bars.study_search"),
    log:
        log_file("study_search_P"),
    benchmark:
        benchmark_file("study_search_P", "all")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/study_search_p.py"


rule judge_bar_P:
    input:
        models=[bar_model_file(m) for m in CFG.models],
        decoy=decoy_file(),
        study=study_search_file(),
        prereg=PREREG_FILES,
    output:
        ensure(verdict_file("bars", "P"), non_empty=True),
    params:
        models=CFG.models,
        references=BAR_REFERENCES,
        decoy=DECOY_PARAMS,
        checkpoint=CFG.bars.checkpoint,
        bar=CFG.params("bars.P"),
    log:
        log_file("judge_bar_P"),
    benchmark:
        benchmark_file("judge_bar_P", "all")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/bar_p.py"


rule causal_effects:
    # one model's IG and attribution-patching predictions and its measured ablation effects;
    # the judge pairs a reference's predictions with another model's measurements
    input:
        lambda wc: bar_model_file(wc.model),
    output:
        causal_effects_file("{model}"),
    params:
        causal=CFG.params("bars.causal"),
    log:
        log_file("causal_effects", "{model}"),
    benchmark:
        benchmark_file("causal_effects", "{model}")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/causal_effects.py"


rule judge_bars_C_Pr:
    input:
        effects=[causal_effects_file(m) for m in CFG.models + [DECOY]],
        # cross-seed units match heads through the permutation Bar P's alignment found
        alignment=verdict_file("bars", "P"),
        prereg=PREREG_FILES,
    output:
        C=ensure(verdict_file("bars", "C"), non_empty=True),
        Pr=ensure(verdict_file("bars", "Pr"), non_empty=True),
    params:
        models=CFG.models,
        references=BAR_REFERENCES,
        decoy=DECOY_PARAMS,
        checkpoint=CFG.bars.checkpoint,
        causal=CFG.params("bars.causal"),
    log:
        log_file("judge_bars_C_Pr"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/bar_c_pr.py"


rule decoy_table:
    # per bar: does the real model pass within-seed while the decoy fails? (the H6 claim)
    input:
        [verdict_file("bars", bar) for bar in BARS],
    output:
        ensure(decoy_table_file(), non_empty=True),
    params:
        model=DECOY_OF,
    log:
        log_file("decoy_table"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/decoy_table.py"
