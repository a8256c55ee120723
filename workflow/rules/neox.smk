# The GPT-NeoX arm (SPEC §5): the analysis corpus, the offline family (where `neox.source` is
# family), and extraction into the audit's activation caches. Rules after extraction are
# the audit's own (audit.smk), driven by ARMS["neox"].

if NEOX is not None:
    NEOX_SITES = ARMS["neox"]["sites"]

    if NEOX.corpus.source == "python-docs":

        rule python_docs:
            # Python's own documentation, split by document into training and held-out text
            output:
                train=RESULTS / "neox/corpus/python_docs.train.jsonl",
                heldout=RESULTS / "neox/corpus/python_docs.heldout.jsonl",
                meta=RESULTS / "neox/corpus/python_docs.json",
            params:
                heldout_fraction=NEOX.corpus.heldout_fraction,
            log:
                RESULTS / "logs/python_docs.log",
            localrule: True
            conda:
                CONDA_ENV
            script:
                "../scripts/python_docs.py"

    if NEOX.source == "family":

        rule neox_tokenizer:
            # a byte-level BPE trained on the training documents, and their token stream
            input:
                RESULTS / "neox/corpus/python_docs.train.jsonl",
            output:
                tokenizer=RESULTS / "neox/tokenizer/tokenizer.json",
                tokenizer_config=RESULTS / "neox/tokenizer/tokenizer_config.json",
                stream=RESULTS / "neox/corpus/train_tokens.npy",
                meta=RESULTS / "neox/corpus/train_tokens.json",
            params:
                vocab_size=NEOX.family.vocab_size,
            log:
                RESULTS / "logs/neox_tokenizer.log",
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
                analysis=RESULTS / "neox/corpus/analysis.npz",
            output:
                revisions=[
                    RESULTS / f"neox/models/{{model}}/step{s}/model.safetensors" for s in NEOX.family.save_steps
                ],
                train_log=RESULTS / "neox/models/{model}/train_log.tsv",
            params:
                out_dir=RESULTS / "neox/models",
                seed=lambda wc: NEOX.seed_of(wc.model),
            log:
                RESULTS / "logs/train_neox/{model}.log",
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
            docs=RESULTS / "neox/corpus/python_docs.heldout.jsonl" if NEOX.corpus.source == "python-docs" else [],
            tokenizer=RESULTS / "neox/tokenizer/tokenizer.json" if NEOX.source == "family" else [],
        output:
            analysis=RESULTS / "neox/corpus/analysis.npz",
            meta=RESULTS / "neox/corpus/analysis.json",
        log:
            RESULTS / "logs/neox_corpus.log",
        resources:
            mem_mb=4000,
            runtime=60,
        conda:
            CONDA_ENV
        script:
            "../scripts/neox_corpus.py"

    for _model in NEOX.models:
        # one job per model writes every site of every revision it needs (importing
        # transformers costs a job several seconds)

        rule:
            name:
                f"extract_neox_{_model.replace('-', '_').replace('.', '_')}"
            input:
                analysis=rules.neox_corpus.output.analysis,
                weights=neox_model_files(_model),
            output:
                [
                    acts_file("neox", _model, site, split, rev)
                    for rev in neox_revisions(_model)
                    for site in NEOX_SITES
                    for split in ("fit", "heldout")
                ],
            params:
                model=_model,
                revisions=neox_revisions(_model),
                sites=NEOX_SITES,
                out_dir=RESULTS / "neox/acts" / _model,
            log:
                RESULTS / f"logs/extract_neox/{_model}.log",
            threads: NEOX.extract.threads
            benchmark:
                benchmark_file("extract_neox", _model)
            resources:
                # Pythia: 7 sites x 2 splits x (65,536 + 32,768) rows x 512 floats, per revision
                mem_mb=8000,
                runtime=120,
                **GPU,
            conda:
                CONDA_ENV
            script:
                "../scripts/extract_neox.py"
