# Figures: data in, figure out. Every figure rule runs scripts/figure.py, which draws the job
# that polyrot.figure_jobs.JOBS (the figure registry) holds under the rule's name.


rule training_curves:
    input:
        logs=[toy_train_log(m) for m in CFG.models],
    output:
        **figure_files("training_curves", "training_curves.rst", "training", "toy"),
    params:
        models=CFG.models,
        cohorts={name: c.models for name, c in CFG.cohorts.items()},
    log:
        log_file("training_curves"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule figure1:
    input:
        ev=[audit_file(arm, "ev") for arm in ARMS],
        cosine=[audit_file(arm, "decoder_cosine") for arm in ARMS],
        cosine_study_recipe=[audit_file(arm, "decoder_cosine_study_recipe") for arm in ARMS],
    output:
        **figure_files("figure1", "figure1.rst", "H2", ALL_ARMS),
        **{
            f"cosine_{ext}": path
            for ext, path in figure_files("decoder_cosine", "decoder_cosine.rst", "H2", ALL_ARMS).items()
        },
    params:
        arms=list(ARMS),
    log:
        log_file("figure1"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule figure4:
    input:
        verdicts=[verdict_file("bars", bar) for bar in BARS],
    output:
        **figure_files("figure4", "figure4.rst", "H6", "toy"),
    params:
        bars=BARS,
        # the IG vs attribution-patching scatters: the decoy's model within-seed, and its
        # cohort's first other model against it (the decoy if the cohort has no other)
        scatter={
            "within-seed": f"within:{DECOY_OF}",
            "cross-seed": next(
                (f"cross:{m}|{r}" for m, r in BAR_REFERENCES.items() if r == DECOY_OF and m != DECOY),
                f"cross:{DECOY}|{DECOY_OF}",
            ),
        },
    log:
        log_file("figure4"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule figure3:
    input:
        effects=[steering_file(arm, "effects", c) for arm, cohorts in STEERING_COHORTS.items() for c in cohorts],
        transfer=[steering_file(arm, "tables", "transfer") for arm in STEERING_COHORTS],
    output:
        **figure_files("figure3", "figure3.rst", "H4", PLAN.arm_label(list(STEERING_COHORTS))),
        **{
            f"accuracy_{ext}": path
            for ext, path in figure_files("figure3_accuracy", "figure3_accuracy.rst", "H4", "toy").items()
        },
    params:
        effect_arms=[arm for arm, cohorts in STEERING_COHORTS.items() for _ in cohorts],
        transfer_arms=list(STEERING_COHORTS),
    log:
        log_file("figure3"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule figure2:
    input:
        power=rules.haar_power.output[0],
        rotations=[haar_file(arm, "rotations") for arm in ARMS],
        matrices=[rotation_file(arm, k["anchor"], k["other"], k["site"], "npy") for arm in ARMS for k in ARMS[arm].rotation_keys()],
    output:
        **figure_files("figure2", "figure2.rst", "H3", ALL_ARMS),
    params:
        haar=CFG.params("haar"),
    log:
        log_file("figure2"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


rule drift_figure:
    input:
        tables=[drift_file(arm) for arm in DRIFT_ARMS],
    output:
        **figure_files("drift", "drift.rst", "H5", PLAN.arm_label(DRIFT_ARMS)),
    params:
        arms=DRIFT_ARMS,
    log:
        log_file("drift_figure"),
    conda:
        CONDA_ENV
    script:
        "../scripts/figure.py"


# `snakemake figures`: every paper figure redrawn from the results already on disk. The rule
# has no input (so nothing upstream is rerun, however stale) and no output (so it always
# runs); each figure rule's inputs, params and outputs reach it as params, and its script
# calls the same job (polyrot.figure_jobs) as that figure's own rule.
rule figures:
    params:
        jobs={name: _figure_job(name) for name in FIGURE_RULES},
    log:
        log_file("figures"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/regenerate_figures.py"
