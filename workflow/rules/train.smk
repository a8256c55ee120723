# Training the Dyck-3 cohorts (SPEC §4).


rule train_toy:
    input:
        unpack(frozen_io_input),
    output:
        best=RESULTS / "toy/models/{model}/best/model.safetensors",
        best_meta=RESULTS / "toy/models/{model}/best/meta.json",
        final=RESULTS / "toy/models/{model}/final/model.safetensors",
        final_meta=RESULTS / "toy/models/{model}/final/meta.json",
        train_log=RESULTS / "toy/models/{model}/train_log.tsv",
    params:
        model_dir=lambda wc: CFG.model_dir(wc.model),
        seed=lambda wc: CFG.seed_of(wc.model),
        task=CFG.raw["task"],
        train=CFG.raw["train"],
    log:
        RESULTS / "logs/train_toy/{model}.log",
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
