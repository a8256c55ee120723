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


rule figure1:
    input:
        ev=expand(RESULTS / "{arm}/audit/ev.tsv", arm=ARMS),
        cosine=expand(RESULTS / "{arm}/audit/decoder_cosine.tsv", arm=ARMS),
        cosine_shared_init=expand(RESULTS / "{arm}/audit/decoder_cosine_shared_init.tsv", arm=ARMS),
    output:
        png=RESULTS / "figures/figure1.png",
        pdf=RESULTS / "figures/figure1.pdf",
        cosine_png=RESULTS / "figures/decoder_cosine.png",
        cosine_pdf=RESULTS / "figures/decoder_cosine.pdf",
    params:
        arms=list(ARMS),
    log:
        RESULTS / "logs/figure1.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/figure1.py"
