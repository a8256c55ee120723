# The heavy rules' `benchmark:` records (training, extraction, SAEs) gathered into one table.
# (Standalone speed probes that compare against a baseline live in benchmarks/.)


rule benchmark_table:
    input:
        benchmark_inputs(),
    output:
        report_file(ensure(FILES("benchmark_summary"), non_empty=True), "benchmarks.rst", "summary", ALL_ARMS),
    params:
        # the records' folder: job names are their paths below it
        root=lambda wc, output: os.path.dirname(output[0]),
    log:
        log_file("benchmark_table"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/benchmark_table.py"
