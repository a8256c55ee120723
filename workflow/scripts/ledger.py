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
    frame = ledger.ledger(ledger.load_paper_values(), registered["tolerances"], ctx, reg.effective["claims"])
    header = (
        f"The paper's headline numbers (McCann 2026, arXiv:2605.24577; SPEC §11, §8, §9) beside this run's, "
        f"at {smk.params.scale}.\n"
        "ours: in the paper's convention (compared); ours_preferred: our convention (shown, not judged). "
        "band: the paper's statement widened by the tolerance registered in preregistration.md (ledger).\n"
        f"rule: {registered['rule']}\n"
        "fragile: the registered fragility rule on the row's units against the band's edges; margin: the worst "
        "unit's distance to an edge in spreads of its siblings.\n"
        f"preregistration {reg.path} sha256 {reg.file_sha256}, {len(reg.amendments)} amendment(s)."
    )
    ledger.write(frame, smk.output.tsv, smk.output.html, header)
    counts = frame["verdict"].value_counts().to_dict()
    with open(smk.log[0], "w") as fh:
        fh.write(f"{len(frame)} rows: {counts}\n")
    print(f"ledger: {len(frame)} rows: " + ", ".join(f"{n} {v}" for v, n in counts.items()))


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
