"""Judge one preregistered claim of the audit against the arms' tables."""

from polyrot import config, prereg
from polyrot.bars import gate
from polyrot.claims import claim_units


def main(smk) -> None:
    cfg = config.load(smk.config)
    reg = prereg.load(cfg.preregistration, cfg.preregistration_lock)
    name = smk.wildcards.claim
    spec = reg.claim(name)
    tables = {(t["arm"], t["table"]): t["path"] for t in smk.params.tables}
    units = claim_units(spec, tables, {arm: cfg.audit.arms[arm].internal_sites for arm in cfg.audit.arms})
    record = gate.write_verdict(
        smk.output[0],
        name,
        units,
        reg,
        config.stable_hash(cfg.raw),
        smk.input,
        kind="claim",
        extra={
            "table": spec["table"],
            "column": spec["column"],
            "sites": spec.get("sites", "all"),
            "where": spec.get("where"),
        },
    )
    with open(smk.log[0], "w") as fh:
        fh.write(gate.describe(record) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
