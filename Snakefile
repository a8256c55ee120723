# Polymorphism Is Rotation: a preregistered reproduction pipeline.
# Run `snakemake --cores 2` for the offline default (config/config.yaml), or pass
# `--configfile config/paper.yaml` for the paper's scale. See README.md.
from snakemake.utils import min_version

min_version("8.0")


# config/config.yaml (every default, written out from src/polyrot/settings.py) only when no
# --configfile is given. A --configfile is an overlay on the built-in defaults, not on this
# file: it holds what it changes, and `null` switches a section off (`neox: null`, `drift:
# null`). `--config key=value` overrides either.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


# `snakemake --report report.html`: the front page (config, preregistration hash, conventions).
report: "workflow/report/workflow.rst"


wildcard_constraints:
    arm=r"toy|neox",
    model=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    stack=r"[A-Za-z0-9][A-Za-z0-9_.+-]*",
    checkpoint=r"[A-Za-z0-9_.-]+",
    site=r"[a-z_]+\d*",
    expansion=r"\d+",


# by stage, in the order the study runs; judge.smk holds every claim, gate and the ledger
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/neox.smk"
include: "workflow/rules/bars.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/haar.smk"
include: "workflow/rules/drift.smk"
include: "workflow/rules/steering.smk"
include: "workflow/rules/judge.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/job_timings.smk"


rule all:
    default_target: True
    input:
        rules.training_curves.output,
        rules.evaluate_toy.output,
        rules.bars.output,
        rules.figure4.output,
        [audit_file(arm, "ev") for arm in ARMS],
        rules.figure1.output,
        rules.claims.output,
        rules.figure2.output,
        rules.steering.output,
        rules.figure3.output,
        rules.drift_figure.output if DRIFT_ARMS else [],
        rules.benchmark_table.output,
        rules.ledger.output,
