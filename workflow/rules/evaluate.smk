# Accuracy of every model per head on the analysis batch and the held-out sets.


rule evaluate_toy:
    input:
        best=[toy_model_file(m, "best") for m in CFG.models],
        final=[toy_model_file(m, "final") for m in CFG.models],
    output:
        ensure(FILES("toy_accuracy"), non_empty=True),
    params:
        models=CFG.models,
        task=CFG.params("task"),
    log:
        log_file("evaluate_toy"),
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        CONDA_ENV
    script:
        "../scripts/evaluate_toy.py"
