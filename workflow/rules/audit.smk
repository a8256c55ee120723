# The rotation audit (SPEC §6, §12): activation caches, SAEs, rotations with controls,
# the EV / decoder-cosine / firing tables, Figure 1 and the audit's preregistered claims.
# Every rule below `extract_toy` is arm-agnostic: models, pairs and sites come from ARMS.


rule extract_toy:
    # one job per model writes every site: the forward pass costs ~0.3 s, a job's start
    # (importing torch) ~3 s; memory holds one model's activations at a time.
    input:
        toy_checkpoint_input,
    output:
        expand(
            RESULTS / "toy/acts/{{model}}/{{checkpoint}}/{site}.{split}.npz",
            site=ARMS["toy"]["sites"],
            split=["fit", "heldout"],
        ),
    params:
        sites=ARMS["toy"]["sites"],
        weights=lambda wc: toy_model_file(wc.model, wc.checkpoint),
        out_dir=lambda wc: RESULTS / "toy/acts" / wc.model / wc.checkpoint,
    log:
        RESULTS / "logs/extract_toy/{model}.{checkpoint}.log",
    benchmark:
        benchmark_file("extract_toy", "{model}", "{checkpoint}")
    resources:
        mem_mb=2000,
        runtime=20,
    conda:
        CONDA_ENV
    script:
        "../scripts/extract_toy.py"


for _arm, _spec in ARMS.items():
    # one instance per arm: outputs name every model / pair of the arm

    rule:
        name:
            f"train_saes_{_arm}"
        input:
            [acts_file(_arm, m, "{site}", "fit") for m in _spec["models"]],
        output:
            saes=[sae_file(_arm, m, "{site}", "{expansion}") for m in _spec["models"]],
            metrics=sae_metric_file(_arm, "{site}", "{expansion}"),
            # the paper comparison's shared-init SAEs, trained in the same stack (none when the
            # arm's own SAEs are shared-init already)
            shared_init_saes=[shared_init_sae_file(_arm, m, "{site}", "{expansion}") for m in _spec["models"]]
            if shared_init_saes_trained(_arm)
            else [],
            shared_init_metrics=[sae_metric_file(_arm, "{site}", "{expansion}", SHARED_INIT_DIR)]
            if shared_init_saes_trained(_arm)
            else [],
        params:
            models=_spec["models"],
            sae=_spec["sae"],
        log:
            RESULTS / f"logs/train_saes/{_arm}.{{site}}.x{{expansion}}.log",
        threads: 1
        benchmark:
            benchmark_file(f"train_saes_{_arm}", "{site}", "x{expansion}")
        resources:
            # Pythia: 9 models x 65,536 rows x 512 floats per site, plus the dictionaries
            mem_mb=8000,
            runtime=240,
            **GPU,
        conda:
            CONDA_ENV
        script:
            "../scripts/train_saes.py"

    rule:
        name:
            f"fit_rotations_{_arm}"
        input:
            fit=[acts_file(_arm, m, "{site}", "fit") for m in _spec["models"]],
            null_site=lambda wc, arm=_arm: [acts_file(arm, m, null_site(arm, wc.site), "fit") for m in ARMS[arm]["models"]],
        output:
            matrices=[RESULTS / f"{_arm}/rotations/{a}__{b}/{{site}}.npy" for _, a, b in _spec["pairs"]],
            meta=[RESULTS / f"{_arm}/rotations/{a}__{b}/{{site}}.json" for _, a, b in _spec["pairs"]],
            controls=[RESULTS / f"{_arm}/rotations/{a}__{b}/{{site}}.controls.npz" for _, a, b in _spec["pairs"]],
        params:
            pairs=_spec["pairs"],
            models=_spec["models"],
            null_site=lambda wc, arm=_arm: null_site(arm, wc.site),
            seed=CFG.audit.controls_seed,
        log:
            RESULTS / f"logs/fit_rotations/{_arm}.{{site}}.log",
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            CONDA_ENV
        script:
            "../scripts/fit_rotations.py"


rule audit_site:
    input:
        unpack(audit_site_inputs),
    output:
        ev=RESULTS / "{arm}/audit/sites/{site}.ev.tsv",
        cosine=RESULTS / "{arm}/audit/sites/{site}.cosine.tsv",
        firing=RESULTS / "{arm}/audit/sites/{site}.firing.tsv",
        cosine_shared_init=RESULTS / "{arm}/audit/sites/{site}.cosine_shared_init.tsv",
    params:
        pairs=lambda wc: ARMS[wc.arm]["pairs"],
        expansions=lambda wc: ARMS[wc.arm]["sae"]["expansions"],
        sae_init=lambda wc: "shared" if ARMS[wc.arm]["sae"]["shared_init"] else "independent",
        gaussian_n=CFG.audit.gaussian_n,
        seed=CFG.audit.controls_seed,
    log:
        RESULTS / "logs/audit_site/{arm}.{site}.log",
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/audit_site.py"


rule audit_tables:
    input:
        ev=lambda wc: expand(RESULTS / "{arm}/audit/sites/{site}.ev.tsv", arm=wc.arm, site=ARMS[wc.arm]["sites"]),
        cosine=lambda wc: expand(
            RESULTS / "{arm}/audit/sites/{site}.cosine.tsv", arm=wc.arm, site=ARMS[wc.arm]["sites"]
        ),
        firing=lambda wc: expand(
            RESULTS / "{arm}/audit/sites/{site}.firing.tsv", arm=wc.arm, site=ARMS[wc.arm]["sites"]
        ),
        cosine_shared_init=lambda wc: expand(
            RESULTS / "{arm}/audit/sites/{site}.cosine_shared_init.tsv", arm=wc.arm, site=ARMS[wc.arm]["sites"]
        ),
        saes=lambda wc: sae_metric_files(wc.arm)
        + (sae_metric_files(wc.arm, SHARED_INIT_DIR) if shared_init_saes_trained(wc.arm) else []),
    output:
        ev=RESULTS / "{arm}/audit/ev.tsv",
        cosine=RESULTS / "{arm}/audit/decoder_cosine.tsv",
        cosine_shared_init=RESULTS / "{arm}/audit/decoder_cosine_shared_init.tsv",
        firing=RESULTS / "{arm}/audit/firing.tsv",
        saes=RESULTS / "{arm}/audit/saes.tsv",
    log:
        RESULTS / "logs/audit_tables/{arm}.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/audit_tables.py"


rule judge_claims:
    # every preregistered claim in one job: each is a table lookup, a job's start costs more
    input:
        tables=[t["path"] for t in CLAIM_TABLES],
        prereg=PREREG_FILES,
    output:
        expand(RESULTS / "claims/{claim}.json", claim=AUDIT_CLAIMS),
    params:
        tables=CLAIM_TABLES,
        claims=AUDIT_CLAIMS,
    log:
        RESULTS / "logs/judge_claims.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/judge_claims.py"


rule claims:
    input:
        expand(RESULTS / "claims/{claim}.json", claim=AUDIT_CLAIMS),
    output:
        RESULTS / "claims/summary.tsv",
    params:
        strict=CFG.strict_bars,
    log:
        RESULTS / "logs/claims.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate.py"
