# Training the Dyck-3 cohorts (SPEC §4).


rule train_toy:
    input:
        unpack(frozen_io_input),
    output:
        best=toy_model_file("{model}", "best"),
        best_meta=toy_meta_file("{model}", "best"),
        final=toy_model_file("{model}", "final"),
        final_meta=toy_meta_file("{model}", "final"),
        train_log=toy_train_log("{model}"),
        # the checkpoints a drift analysis reads, copied out when training ends (every model
        # keeps every checkpoint then; the config refuses ones early stopping could skip)
        checkpoints=[toy_checkpoint_file("{model}", c) for c in (ARMS["toy"]["drift"] or {}).get("checkpoints", [])],
    params:
        seed=lambda wc: CFG.seed_of(wc.model),
        task=CFG.params("task"),
        train=CFG.params("train"),
    log:
        log_file("train_toy", "{model}"),
    threads: CFG.train.threads
    # an anchor whose I/O other seeds wait for goes first
    priority: lambda wc: 10 if wc.model in SHARED_IO_ANCHORS else 0
    benchmark:
        benchmark_file("train_toy", "{model}")
    resources:
        mem_mb=2000,
        # minutes: the default trains in ~2, the paper's 60,000 x 512 steps take hours on a CPU
        runtime=lambda wc: 30 if CFG.train.steps <= 10_000 else 720,
        **GPU,
    conda:
        CONDA_ENV
    script:
        "../scripts/train_toy.py"
