# Accuracy of every model per head on the analysis batch and the held-out sets.


rule evaluate_toy:
    input:
        expand(RESULTS / "toy/models/{model}/{which}/model.safetensors", model=CFG.models, which=["best", "final"]),
    output:
        RESULTS / "toy/eval/accuracy.tsv",
    params:
        models=CFG.models,
        task=CFG.raw["task"],
    log:
        RESULTS / "logs/evaluate_toy.log",
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_toy.py"
