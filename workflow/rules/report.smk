# `snakemake figures`: every paper figure redrawn from the results already on disk. The rule
# has no input (so nothing upstream is rerun, however stale) and no output (so it always
# runs); each figure rule's inputs, params and outputs reach it as params, and its script
# calls the same job (polyrot.figure_jobs) as that figure's own rule.
rule figures:
    params:
        jobs={name: _figure_job(name) for name in FIGURE_RULES},
    log:
        log_file("figures"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/regenerate_figures.py"
