# Checkpoint drift (docs/methods.md §9): one model's earlier checkpoints against its audited one, in
# every arm that configures `audit.<arm>.drift`, and the drift figure.


for _arm in DRIFT_ARMS:

    rule:
        # the paper's direction: SAEs trained on the early checkpoint with the study's recipe
        # and the drift's own l1 (the paper's Pythia row: 1e-3), one stack over every site
        name:
            f"train_drift_saes_{_arm}"
        input:
            [
                acts_file(_arm, ARMS[_arm].drift["model"], k["site"], "fit", ARMS[_arm].drift["early"])
                for k in ARMS[_arm].sae_keys()
            ],
        output:
            [drift_sae_file(_arm, k["site"], k["expansion"]) for k in ARMS[_arm].sae_keys()],
        params:
            saes=ARMS[_arm].sae_keys(),
            sae=ARMS[_arm].sae,
            l1=ARMS[_arm].drift["early_sae_l1"],
            model=ARMS[_arm].drift["model"],
            checkpoint=ARMS[_arm].drift["early"],
        log:
            log_file(f"train_drift_saes_{_arm}"),
        threads: 1
        benchmark:
            benchmark_file(f"train_drift_saes_{_arm}", "all")
        resources:
            mem_mb=8000,
            runtime=240,
            **GPU,
        conda:
            CONDA_ENV
        script:
            "../scripts/train_drift_saes.py"


rule drift:
    input:
        caches=lambda wc: [
            acts_file(wc.arm, ARMS[wc.arm].drift["model"], k["site"], k["split"], k["checkpoint"])
            for k in ARMS[wc.arm].drift_caches()
        ],
        saes=lambda wc: [
            sae_file(wc.arm, ARMS[wc.arm].drift["model"], k["site"], k["expansion"]) for k in ARMS[wc.arm].sae_keys()
        ],
        early_saes=lambda wc: [drift_sae_file(wc.arm, k["site"], k["expansion"]) for k in ARMS[wc.arm].sae_keys()],
    output:
        drift=ensure(drift_file("{arm}"), non_empty=True),
        paper_direction=ensure(drift_file("{arm}", "paper_direction"), non_empty=True),
    params:
        drift=lambda wc: ARMS[wc.arm].drift,
        reference=lambda wc: ARMS[wc.arm].checkpoint,
        caches=lambda wc: ARMS[wc.arm].drift_caches(),
        saes=lambda wc: ARMS[wc.arm].sae_keys(),
        sites=lambda wc: ARMS[wc.arm].sites,
        null_sites=lambda wc: {s: ARMS[wc.arm].null_site(s) for s in ARMS[wc.arm].sites},
        gaussian_n=CFG.audit.gaussian_n,
        bootstrap_n=CFG.audit.bootstrap_n,
        seed=CFG.audit.controls_seed,
    log:
        log_file("drift", "{arm}"),
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/drift.py"
