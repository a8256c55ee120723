# Polymorphism Is Rotation: a preregistered reproduction pipeline.
# Run `snakemake --cores 2` for the offline default (config/config.yaml), or pass
# `--configfile config/paper.yaml` for the paper's scale. See README.md.
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


wildcard_constraints:
    model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    which=r"best|final",


include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/bars.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/neox.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/haar.smk"
include: "workflow/rules/drift.smk"
include: "workflow/rules/benchmarks.smk"


rule all:
    default_target: True
    input:
        rules.training_curves.output,
        rules.evaluate_toy.output,
        rules.bars.output,
        expand(RESULTS / "{arm}/audit/ev.tsv", arm=ARMS),
        rules.figure1.output,
        rules.claims.output,
        rules.figure2.output,
        rules.drift_figure.output if DRIFT_ARMS else [],
        rules.benchmark_table.output,
