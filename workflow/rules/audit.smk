# The rotation audit (docs/methods.md §6, §12): activation caches, SAEs, rotations with controls,
# the EV / decoder-cosine / firing tables and the audit's preregistered claims. Every rule
# below `extract_toy` serves both arms: models, pairs and sites come from ARMS. The SAE and
# rotation rules are generated once per arm (train_saes_toy, train_saes_neox,
# fit_rotations_toy, fit_rotations_neox) because their outputs name every model or pair of
# the arm; the rest take the arm as a wildcard.
# each table again for the paper comparison's SAEs (the study's recipe): *_study_recipe
AUDIT_TABLES = ["ev", "cosine", "firing", "ev_study_recipe", "cosine_study_recipe", "firing_study_recipe"]
# and the study-recipe SAEs' max-cosine over every pair of models of a cohort (not only the anchor's)
AUDIT_TABLES += ["cosine_all_pairs_study_recipe"]


rule extract_toy:
    # one job per model and checkpoint writes every site: the forward pass costs ~0.3 s, a
    # job's start (importing torch) ~3 s; memory holds one model's activations at a time.
    input:
        toy_weights_input,
    output:
        extraction_outputs("toy", ARMS["toy"].sites),
    params:
        caches=cache_keys(ARMS["toy"].sites),
        analysis={"n": CFG.task.analysis_n, "seed": CFG.task.analysis_seed},
        heldout={"n": CFG.audit.heldout_n, "seed": CFG.audit.heldout_seed},
    log:
        log_file("extract_toy", "{model}", "{checkpoint}"),
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

    rule:
        name:
            f"train_saes_{_arm}"
        input:
            [acts_file(_arm, m, "{site}", "fit") for m in _spec.models],
        output:
            saes=[sae_file(_arm, m, "{site}", "{expansion}") for m in _spec.models],
            metrics=ensure(sae_metric_file(_arm, "{site}", "{expansion}"), non_empty=True),
            # the paper comparison's SAEs, trained with the study's recipe in the same stack
            study_saes=[sae_file(_arm, m, "{site}", "{expansion}", "study") for m in _spec.models],
            study_metrics=ensure(sae_metric_file(_arm, "{site}", "{expansion}", "study"), non_empty=True),
        params:
            models=_spec.models,
            sae=_spec.sae,
        log:
            log_file(f"train_saes_{_arm}", "{site}", "x{expansion}"),
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
            fit=[acts_file(_arm, m, "{site}", "fit") for m in _spec.models],
            null_site=lambda wc, arm=_arm: [acts_file(arm, m, ARMS[arm].null_site(wc.site), "fit") for m in ARMS[arm].models],
        output:
            matrices=[rotation_file(_arm, a, b, "{site}", "npy") for _, a, b in _spec.pairs],
            meta=[rotation_file(_arm, a, b, "{site}", "json") for _, a, b in _spec.pairs],
            controls=[rotation_file(_arm, a, b, "{site}", "controls.npz") for _, a, b in _spec.pairs],
        params:
            pairs=_spec.pairs,
            models=_spec.models,
            null_site=lambda wc, arm=_arm: ARMS[arm].null_site(wc.site),
            seed=CFG.audit.controls_seed,
        log:
            log_file(f"fit_rotations_{_arm}", "{site}"),
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
        **{t: ensure(audit_site_file("{arm}", "{site}", t), non_empty=True) for t in AUDIT_TABLES},
    params:
        models=lambda wc: ARMS[wc.arm].models,
        pairs=lambda wc: ARMS[wc.arm].pairs,
        all_pairs=lambda wc: ARMS[wc.arm].all_pairs,
        expansions=lambda wc: ARMS[wc.arm].sae["expansions"],
        sae_init=lambda wc: "shared" if ARMS[wc.arm].sae["shared_init"] else "independent",
        gaussian_n=CFG.audit.gaussian_n,
        bootstrap_n=CFG.audit.bootstrap_n,
        seed=CFG.audit.controls_seed,
    log:
        log_file("audit_site", "{arm}", "{site}"),
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CONDA_ENV
    script:
        "../scripts/audit_site.py"


rule audit_tables:
    input:
        **{t: lambda wc, t=t: [audit_site_file(wc.arm, s, t) for s in ARMS[wc.arm].sites] for t in AUDIT_TABLES},
        saes=lambda wc: [
            sae_metric_file(wc.arm, s, e, recipe)
            for recipe in SAE_RECIPES
            for s in ARMS[wc.arm].sites
            for e in ARMS[wc.arm].sae["expansions"]
        ],
    output:
        ev=report_file(
            ensure(audit_file("{arm}", "ev"), non_empty=True),
            "ev_table.rst",
            "H2",
            lambda wc: ARMS[wc.arm].label,
        ),
        cosine=ensure(audit_file("{arm}", "decoder_cosine"), non_empty=True),
        firing=ensure(audit_file("{arm}", "firing"), non_empty=True),
        ev_study_recipe=ensure(audit_file("{arm}", "ev_study_recipe"), non_empty=True),
        cosine_study_recipe=ensure(audit_file("{arm}", "decoder_cosine_study_recipe"), non_empty=True),
        firing_study_recipe=ensure(audit_file("{arm}", "firing_study_recipe"), non_empty=True),
        cosine_all_pairs_study_recipe=ensure(audit_file("{arm}", "decoder_cosine_all_pairs_study_recipe"), non_empty=True),
        saes=ensure(audit_file("{arm}", "saes"), non_empty=True),
    log:
        log_file("audit_tables", "{arm}"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/audit_tables.py"
