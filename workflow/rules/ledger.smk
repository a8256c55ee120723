# The claims ledger (issue 15): every headline number of the paper (src/polyrot/paper_values.yaml)
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
        sites={arm: spec["sites"] for arm, spec in ARMS.items()},
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
