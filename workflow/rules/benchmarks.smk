# The heavy rules' `benchmark:` records (training, extraction, SAEs) gathered into one table.


rule benchmark_table:
    input:
        benchmark_inputs(),
    output:
        RESULTS / "benchmarks/summary.tsv",
    params:
        root=RESULTS / "benchmarks",
    log:
        RESULTS / "logs/benchmark_table.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/benchmark_table.py"
