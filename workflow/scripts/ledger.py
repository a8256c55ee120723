"""Build the claims ledger (rule `ledger`): the paper's numbers beside ours, judged."""

from polyrot import ledger, prereg
from polyrot.scripting import run_script


def main(smk) -> None:
    reg = prereg.load(*smk.input.prereg)
    registered = reg.effective["ledger"]
    ctx = ledger.RunContext(
        tables={(t["arm"], t["table"]): t["path"] for t in smk.params.tables},
        bars=dict(zip(smk.params.bars, smk.input.bars, strict=True)),
        sites={arm: list(sites) for arm, sites in smk.params.sites.items()},
        cohorts={name: (anchor, list(models)) for name, (anchor, models) in smk.params.cohorts.items()},
        neox_is_pythia=bool(smk.params.neox_is_pythia),
        neox_layer3=smk.params.neox_layer3,
    )
    frame = ledger.ledger(ledger.load_paper_values(), registered["bands"], ctx, float(registered["z"]))
    header = (
        "The paper's headline numbers (McCann 2026, arXiv:2605.24577; where: the section and line of its main.tex) "
        f"beside this run's, at {smk.params.scale}.\n"
        "ours: the paper's statistic on the paper's subset, aggregation and convention (compared; the convention "
        "column names them); ours_preferred: our convention (shown, not judged).\n"
        f"band: the paper's statement, its rounding, +- {registered['z']:g} x the statistic's sampling spread "
        "(preregistration.md, ledger.bands).\n"
        f"rule: {registered['rule']}\n"
        "fragile: the registered fragility rule on the row's units against the band's edges; margin: the worst "
        "unit's distance to an edge in its spreads.\n"
        f"preregistration {reg.path} sha256 {reg.file_sha256}, {len(reg.amendments)} amendment(s)."
    )
    ledger.write(frame, smk.output.tsv, smk.output.html, header)
    counts = frame["verdict"].value_counts().to_dict()
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(frame)} rows: {counts}\n")
    print(f"ledger: {len(frame)} rows: " + ", ".join(f"{n} {v}" for v, n in counts.items()))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
