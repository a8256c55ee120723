# Training the Dyck-3 cohorts (docs/methods.md §4): train.stack models per job, one stacked model.


rule train_toy_stack:
    input:
        unpack(frozen_io_input),
    output:
        # the models' checkpoints (step000250/...) are not declared: Snakemake removes a
        # failed job's outputs, and checkpoints must survive for the job to resume
        manifest=toy_stack_manifest("{stack}"),
    params:
        models=lambda wc: TOY_STACKS[wc.stack],
        seeds=lambda wc: [CFG.seed_of(m) for m in TOY_STACKS[wc.stack]],
        model_dirs=lambda wc: [str(toy_model_dir(m)) for m in TOY_STACKS[wc.stack]],
        task=CFG.params("task"),
        train=CFG.params("train"),
    log:
        log_file("train_toy_stack", "{stack}"),
    threads: CFG.train.threads
    # a stack whose anchors other seeds wait for goes first
    priority: lambda wc: 10 if set(TOY_STACKS[wc.stack]) & SHARED_IO_ANCHORS else 0
    benchmark:
        benchmark_file("train_toy_stack", "{stack}")
    resources:
        mem_mb=lambda wc: 1500 + 500 * len(TOY_STACKS[wc.stack]),
        # minutes: the default trains in ~2 per model on a CPU; the paper's 60,000 x 512 steps
        # take ~10-20 minutes per stack on one GPU and hours on a CPU
        runtime=lambda wc: 30 * len(TOY_STACKS[wc.stack]) if CFG.train.steps <= 10_000 else 720,
        **GPU,
    conda:
        CONDA_ENV
    script:
        "../scripts/train_toy_stack.py"


rule train_toy:
    input:
        manifest=lambda wc: toy_stack_manifest(CFG.stack_of(wc.model)),
    output:
        best=toy_model_file("{model}", "best"),
        best_meta=toy_meta_file("{model}", "best"),
        final=toy_model_file("{model}", "final"),
        final_meta=toy_meta_file("{model}", "final"),
        train_log=toy_train_log("{model}"),
        # the checkpoints a drift analysis reads, copied out when training ends (every model
        # keeps every checkpoint then; the config refuses ones early stopping could skip)
        checkpoints=[toy_checkpoint_file("{model}", c) for c in (ARMS["toy"].drift or {}).get("checkpoints", [])],
    log:
        log_file("train_toy", "{model}"),
    # copies files out of the stack's checkpoints: no cluster job
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/train_toy.py"
