# The GPT-NeoX arm (docs/methods.md §5): the analysis corpus, the offline family (where `neox.source` is
# family), and extraction into the audit's activation caches. Rules after extraction are
# the audit's own (audit.smk), driven by ARMS["neox"].

if NEOX is not None:
    NEOX_SITES = ARMS["neox"].sites
    # where the models are read from; the offline family's are the DAG's own outputs
    NEOX_SOURCE = {
        "kind": "hub" if NEOX.source == "hub" else "local",
        "local_dir": CFG.neox_local_dir,
        "hub_org": NEOX.get("hub_org"),
    }

    if NEOX.corpus.source == "python-docs":

        rule python_docs:
            # Python's own documentation, split by document into training and held-out text
            output:
                train=neox_corpus_file("python_docs.train.jsonl"),
                heldout=neox_corpus_file("python_docs.heldout.jsonl"),
                meta=neox_corpus_file("python_docs.json"),
            params:
                heldout_fraction=NEOX.corpus.heldout_fraction,
            log:
                log_file("python_docs"),
            localrule: True
            conda:
                CONDA_ENV
            script:
                "../scripts/python_docs.py"

    if NEOX.source == "family":

        rule neox_tokenizer:
            # a byte-level BPE trained on the training documents, and their token stream
            input:
                rules.python_docs.output.train,
            output:
                tokenizer=neox_tokenizer_file("tokenizer.json"),
                tokenizer_config=neox_tokenizer_file("tokenizer_config.json"),
                stream=neox_corpus_file("train_tokens.npy"),
                meta=neox_corpus_file("train_tokens.json"),
            params:
                vocab_size=NEOX.family.vocab_size,
            log:
                log_file("neox_tokenizer"),
            resources:
                mem_mb=2000,
                runtime=30,
            conda:
                CONDA_ENV
            script:
                "../scripts/neox_tokenizer.py"

        rule train_neox:
            input:
                tokenizer=rules.neox_tokenizer.output.tokenizer,
                stream=rules.neox_tokenizer.output.stream,
                analysis=neox_corpus_file("analysis.npz"),
            output:
                # the revisions something reads (every model saves every save_steps revision):
                # an output nothing reads would have no Snakemake metadata after a save_steps
                # change, and a job with an output lacking metadata is never checked for
                # changed params
                revisions=[neox_model_file("{model}", r) for r in neox_revisions_read()],
                train_log=FILES("neox_train_log", model="{model}"),
            params:
                seed=lambda wc: polyrot.config.family_seed(wc.model),
                family={**CFG.params("neox.family"), "save_steps": sorted(NEOX.family.save_steps)},
            log:
                log_file("train_neox", "{model}"),
            threads: NEOX.family.threads
            benchmark:
                benchmark_file("train_neox", "{model}")
            resources:
                mem_mb=2000,
                runtime=120,
                **GPU,
            conda:
                CONDA_ENV
            script:
                "../scripts/train_neox.py"

    rule neox_corpus:
        # the analysis sequences, tokenized once with the models' shared tokenizer
        input:
            docs=rules.python_docs.output.heldout if NEOX.corpus.source == "python-docs" else [],
            tokenizer=rules.neox_tokenizer.output.tokenizer if NEOX.source == "family" else [],
        output:
            analysis=neox_corpus_file("analysis.npz"),
            meta=neox_corpus_file("analysis.json"),
        params:
            corpus=CFG.params("neox.corpus"),
            # the tokenizer of hub and local models: the anchor's at the audited revision
            source=NEOX_SOURCE,
            anchor=NEOX.anchor,
            revision=NEOX.revision,
        log:
            log_file("neox_corpus"),
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            CONDA_ENV
        script:
            "../scripts/neox_corpus.py"

    rule extract_neox:
        # one job per (model, revision) writes every site: importing transformers costs a job
        # several seconds, the family's forward passes less
        input:
            analysis=rules.neox_corpus.output.analysis,
            weights=neox_model_file("{model}", "{checkpoint}") if NEOX.source == "family" else [],
        output:
            extraction_outputs("neox", NEOX_SITES),
        params:
            caches=cache_keys(NEOX_SITES),
            extract=CFG.params("neox.extract"),
            source=NEOX_SOURCE,
        log:
            log_file("extract_neox", "{model}", "{checkpoint}"),
        threads: NEOX.extract.threads
        benchmark:
            benchmark_file("extract_neox", "{model}", "{checkpoint}")
        resources:
            # Pythia: 7 sites x 2 splits x (65,536 + 32,768) rows x 512 floats
            mem_mb=8000,
            runtime=120,
            **GPU,
        conda:
            CONDA_ENV
        script:
            "../scripts/extract_neox.py"
