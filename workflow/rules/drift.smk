# Checkpoint drift (SPEC §9): one model's earlier checkpoints against its audited one, in
# every arm that configures `audit.<arm>.drift`, and the drift figure.

for _arm in DRIFT_ARMS:
    _drift = ARMS[_arm]["drift"]

    rule:
        name:
            f"drift_{_arm}"
        input:
            reference=[
                acts_file(_arm, _drift["model"], s, split) for s in ARMS[_arm]["sites"] for split in ("fit", "heldout")
            ],
            checkpoints=[
                acts_file(_arm, _drift["model"], s, split, c)
                for c in _drift["checkpoints"]
                for s in ARMS[_arm]["sites"]
                for split in ("fit", "heldout")
            ],
            saes=[sae_file(_arm, _drift["model"], s, e) for s in ARMS[_arm]["sites"] for e in ARMS[_arm]["sae"]["expansions"]],
        output:
            RESULTS / f"{_arm}/drift/drift.tsv",
        params:
            arm=_arm,
            drift=_drift,
            reference=ARMS[_arm]["checkpoint"],
            sites=ARMS[_arm]["sites"],
            expansions=ARMS[_arm]["sae"]["expansions"],
            null_sites={s: null_site(_arm, s) for s in ARMS[_arm]["sites"]},
            acts_dir=RESULTS / f"{_arm}/acts/{_drift['model']}",
            saes_dir=RESULTS / f"{_arm}/saes/{_drift['model']}",
            gaussian_n=CFG.audit.gaussian_n,
            seed=CFG.audit.controls_seed,
        log:
            RESULTS / f"logs/drift/{_arm}.log",
        resources:
            mem_mb=8000,
            runtime=120,
        conda:
            CONDA_ENV
        script:
            "../scripts/drift.py"


rule drift_figure:
    input:
        expand(RESULTS / "{arm}/drift/drift.tsv", arm=DRIFT_ARMS),
    output:
        png=RESULTS / "figures/drift.png",
        pdf=RESULTS / "figures/drift.pdf",
    params:
        arms=DRIFT_ARMS,
    log:
        RESULTS / "logs/drift_figure.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/drift_figure.py"
