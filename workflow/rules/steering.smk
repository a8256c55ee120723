# Steering (docs/methods.md §9, H4; amendment 2026-11-28): difference-of-means vectors on each cohort's
# anchor (the GPT-NeoX arm's anchor), added as alpha * v at one site, within-seed, on the
# other seeds unrotated (the paper) and mapped through the pair's fitted R (ours), against
# norm-matched random directions. `steering_tables` writes the tables the steering claims are
# judged on; `steering` is their gate (non-zero exit with --config strict_bars=true and a
# FAIL), and Figure 3 draws the dose-response curves.
rule steering_toy:
    input:
        models=lambda wc: [toy_model_file(m, CFG.audit.checkpoint) for m in CFG.cohorts[wc.cohort].models],
        rotations=lambda wc: [
            rotation_file("toy", steering_others("toy", wc.cohort)[0], m, STEERING_TOY_SITE, "npy")
            for m in steering_others("toy", wc.cohort)[1]
        ],
    output:
        **steering_outputs("toy"),
    wildcard_constraints:
        cohort="|".join(CFG.cohorts),
    params:
        cohort=lambda wc: wc.cohort,
        models=lambda wc: CFG.cohorts[wc.cohort].models,
        anchor=lambda wc: CFG.cohorts[wc.cohort].anchor_model,
        shared_io=lambda wc: CFG.cohorts[wc.cohort].shared_io,
        # the registered sweep's settings (the paper comparison's grid is steering_study_toy's)
        steering={k: v for k, v in STEERING.items() if k != "neox"}
        | {"toy": {k: v for k, v in STEERING["toy"].items() if k != "study_alphas"}},
        analysis={"n": CFG.task.analysis_n, "seed": CFG.task.analysis_seed},
        heldout={"n": CFG.audit.heldout_n, "seed": CFG.audit.heldout_seed},
    log:
        log_file("steering_toy", "{cohort}"),
    benchmark:
        benchmark_file("steering_toy", "{cohort}")
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/steering_toy.py"


rule steering_study_toy:
    # the paper comparison: every vector on the fine dose grid, within-seed and on the other
    # seeds, measured on the held-out batch (ours) and, as the study's code, on the analysis
    # batch the vectors are built on; accuracy at our targets and at the study's
    input:
        models=lambda wc: [toy_model_file(m, CFG.audit.checkpoint) for m in CFG.cohorts[wc.cohort].models],
        rotations=lambda wc: [
            rotation_file("toy", steering_others("toy", wc.cohort)[0], m, STEERING_TOY_SITE, "npy")
            for m in steering_others("toy", wc.cohort)[1]
        ],
    output:
        ensure(steering_file("toy", "study", "{cohort}"), non_empty=True),
    wildcard_constraints:
        cohort="|".join(CFG.cohorts),
    params:
        cohort=lambda wc: wc.cohort,
        models=lambda wc: CFG.cohorts[wc.cohort].models,
        anchor=lambda wc: CFG.cohorts[wc.cohort].anchor_model,
        site=STEERING_TOY_SITE,
        alphas=CFG.steering.toy.study_alphas,
        eval_n=CFG.steering.toy.eval_n,
        analysis={"n": CFG.task.analysis_n, "seed": CFG.task.analysis_seed},
        heldout={"n": CFG.audit.heldout_n, "seed": CFG.audit.heldout_seed},
    log:
        log_file("steering_study_toy", "{cohort}"),
    benchmark:
        benchmark_file("steering_study_toy", "{cohort}")
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/steering_study_toy.py"


rule steering_study_tables:
    input:
        [steering_file("toy", "study", c) for c in CFG.cohorts],
    output:
        ratios=ensure(steering_file("toy", "tables", "study_ratios"), non_empty=True),
        doses=ensure(steering_file("toy", "tables", "study_doses"), non_empty=True),
    log:
        log_file("steering_study_tables"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/steering_study_tables.py"


if NEOX is not None:

    rule steering_neox:
        input:
            contrasts=CFG.steering.neox.contrasts,
            analysis=neox_corpus_file("analysis.npz"),
            weights=[neox_model_file(m, NEOX.revision) for m in NEOX.models] if NEOX.source == "family" else [],
            rotations=[
                rotation_file("neox", NEOX.anchor, m, CFG.steering.neox.site, "npy") for m in steering_others("neox", "neox")[1]
            ],
        output:
            **steering_outputs("neox"),
        wildcard_constraints:
            cohort="neox",
        params:
            models=NEOX.models,
            anchor=NEOX.anchor,
            revision=NEOX.revision,
            source=NEOX_SOURCE,
            extract=CFG.params("neox.extract"),
            steering={k: v for k, v in STEERING.items() if k != "toy"},
        log:
            log_file("steering_neox", "{cohort}"),
        threads: NEOX.extract.threads
        benchmark:
            benchmark_file("steering_neox", "{cohort}")
        resources:
            mem_mb=8000,
            runtime=60,
            **GPU,
        conda:
            CONDA_ENV
        script:
            "../scripts/steering_neox.py"


rule steering_tables:
    input:
        effects=lambda wc: [steering_file(wc.arm, "effects", c) for c in STEERING_COHORTS[wc.arm]],
        meta=lambda wc: [steering_file(wc.arm, "vectors", c, "json") for c in STEERING_COHORTS[wc.arm]],
    output:
        **{t: ensure(steering_file("{arm}", "tables", t), non_empty=True) for t in STEERING_TABLES},
    log:
        log_file("steering_tables", "{arm}"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/steering_tables.py"
