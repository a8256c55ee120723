# Judging: the preregistered claims, the gates (the bars' and the steering claims', each
# failing the run under strict_bars) and the claims ledger, which reports and never gates.


rule judge_claims:
    # every preregistered claim in one job: each is a table lookup, a job's start costs more
    input:
        tables=[t["path"] for t in CLAIM_TABLES],
        prereg=PREREG_FILES,
    output:
        [ensure(verdict_file("claims", c), non_empty=True) for c in AUDIT_CLAIMS],
    params:
        tables=CLAIM_TABLES,
        claims=AUDIT_CLAIMS,
        # each arm's audited sites, among which a claim's `sites` selects (polyrot.selection)
        sites={arm: spec.sites for arm, spec in ARMS.items()},
    log:
        log_file("judge_claims"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/judge_claims.py"


rule judge_steering_claims:
    input:
        tables=[t["path"] for t in STEERING_CLAIM_TABLES],
        prereg=PREREG_FILES,
    output:
        [ensure(verdict_file("claims", c), non_empty=True) for c in STEERING_CLAIMS],
    params:
        tables=STEERING_CLAIM_TABLES,
        claims=STEERING_CLAIMS,
        sites={arm: spec.sites for arm, spec in ARMS.items()},
    log:
        log_file("judge_steering_claims"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/judge_claims.py"


rule claims:
    # every registered claim, the steering ones (judged in steering.smk) included
    input:
        [verdict_file("claims", c) for c in ALL_CLAIMS],
    output:
        report_file(ensure(verdict_file("claims", "summary"), non_empty=True), "claims_summary.rst", "summary", ALL_ARMS),
    params:
        strict=CFG.strict_bars,
    log:
        log_file("claims"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate_summary.py"


rule steering:
    # the gate: one row per steering claim; non-zero exit if strict and any failed
    input:
        [verdict_file("claims", c) for c in STEERING_CLAIMS],
    output:
        ensure(verdict_file("steering", "summary"), non_empty=True),
    params:
        strict=CFG.strict_bars,
    log:
        log_file("steering"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate_summary.py"


for _bar in BARS:

    rule:
        # a gate with no output: it always runs, prints the verdict, and fails if strict
        name:
            f"bar_{_bar}"
        input:
            verdict_file("bars", _bar),
        params:
            strict=CFG.strict_bars,
        log:
            log_file(f"bar_{_bar}"),
        localrule: True
        conda:
            CONDA_ENV
        script:
            "../scripts/gate_check.py"


rule bars:
    input:
        [verdict_file("bars", bar) for bar in BARS],
    output:
        report_file(ensure(verdict_file("bars", "summary"), non_empty=True), "bars_summary.rst", "H6", "toy"),
    params:
        strict=CFG.strict_bars,
    log:
        log_file("bars"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/gate_summary.py"


# The claims ledger: every headline number of the paper (src/polyrot/paper_values.yaml)
# beside ours, judged by the tolerances preregistration.md registers (`ledger`). It reports and
# never gates: `snakemake ledger` builds it whatever the verdicts.
rule ledger:
    input:
        tables=[t["path"] for t in LEDGER_TABLES],
        bars=[verdict_file("bars", bar) for bar in BARS],
        prereg=PREREG_FILES,
    output:
        tsv=report_file(ensure(ledger_file("tsv"), non_empty=True), "ledger.rst", "ledger", ALL_ARMS),
        html=report_file(ensure(ledger_file("html"), non_empty=True), "ledger.rst", "ledger", ALL_ARMS),
    params:
        tables=LEDGER_TABLES,
        bars=BARS,
        sites={arm: spec.sites for arm, spec in ARMS.items()},
        cohorts={name: [c.anchor_model, list(c.models)] for name, c in CFG.cohorts.items()},
        # the paper's Pythia numbers are judged only on Pythia itself (hub, or a local copy)
        neox_is_pythia=NEOX is not None
        and NEOX.source in ("hub", "local")
        and all("pythia" in m.lower() for m in NEOX.models),
        # the paper's "layer 3" (its steering and checkpoint layer) in this run's GPT-NeoX arm
        neox_layer3=CFG.steering.neox.site if NEOX is not None else None,
        scale=LEDGER_SCALE,
    log:
        log_file("ledger"),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/ledger.py"
