# Checkpoint drift (SPEC §9): one model's earlier checkpoints against its audited one, in
# every arm that configures `audit.<arm>.drift`, and the drift figure.


rule drift:
    input:
        caches=lambda wc: [
            acts_file(wc.arm, ARMS[wc.arm]["drift"]["model"], k["site"], k["split"], k["checkpoint"])
            for k in drift_caches(wc.arm)
        ],
        saes=lambda wc: [
            sae_file(wc.arm, ARMS[wc.arm]["drift"]["model"], k["site"], k["expansion"]) for k in drift_saes(wc.arm)
        ],
    output:
        ensure(drift_file("{arm}"), non_empty=True),
    params:
        drift=lambda wc: ARMS[wc.arm]["drift"],
        reference=lambda wc: ARMS[wc.arm]["checkpoint"],
        caches=lambda wc: drift_caches(wc.arm),
        saes=lambda wc: drift_saes(wc.arm),
        sites=lambda wc: ARMS[wc.arm]["sites"],
        null_sites=lambda wc: {s: null_site(wc.arm, s) for s in ARMS[wc.arm]["sites"]},
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


rule drift_figure:
    input:
        tables=[drift_file(arm) for arm in DRIFT_ARMS],
    output:
        **figure_files("drift", "drift.rst", "H5", " and ".join(ARM_NAMES[a] for a in DRIFT_ARMS)),
    params:
        arms=DRIFT_ARMS,
    log:
        log_file("drift_figure"),
    conda:
        CONDA_ENV
    script:
        "../scripts/drift_figure.py"
