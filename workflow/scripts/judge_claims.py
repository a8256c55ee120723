"""Judge every preregistered claim against the arms' tables."""

from polyrot import config, prereg, verdicts
from polyrot.claims import claim_units
from polyrot.scripting import run_script


def main(smk) -> None:
    reg = prereg.load(*smk.input.prereg)
    tables = {(t["arm"], t["table"]): t["path"] for t in smk.params.tables}
    sites = dict(smk.params.sites)
    lines = []
    for name, out in zip(smk.params.claims, smk.output, strict=True):
        spec = reg.claim(name)
        record = verdicts.write_verdict(
            out,
            name,
            claim_units(spec, tables, sites),
            reg,
            config.stable_hash(dict(smk.params.items())),
            smk.input,
            kind="claim",
            extra={
                "table": spec["table"],
                "column": spec["column"],
                "sites": spec.get("sites", "all"),
                "where": spec.get("where"),
            },
        )
        lines.append(verdicts.describe(record))
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
