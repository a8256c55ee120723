# Figures: data in, figure out (one function each in polyrot.figures).


rule training_curves:
    input:
        expand(RESULTS / "toy/models/{model}/train_log.tsv", model=CFG.models),
    output:
        png=RESULTS / "figures/training_curves.png",
        pdf=RESULTS / "figures/training_curves.pdf",
    params:
        models=CFG.models,
        cohorts={name: c.models for name, c in CFG.cohorts.items()},
    log:
        RESULTS / "logs/training_curves.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/training_curves.py"
