"""One arm's steering tables (transfer, dose, control) from its cohorts' effects."""

import pandas as pd

from polyrot import atomic
from polyrot.scripting import run_script
from polyrot.steering import tables


def main(smk) -> None:
    effects = pd.concat([pd.read_csv(f, sep="\t", comment="#") for f in smk.input.effects], ignore_index=True)
    effects["cohort"] = effects["cohort"].astype(str)
    metas = [atomic.read_json(f) for f in smk.input.meta]
    shared_io = {str(m["cohort"]): m["shared_io"] for m in metas}
    pinned = {(str(m["cohort"]), name): v["pinned_fraction"] for m in metas for name, v in m["vectors"].items()}
    column = "accuracy_drop" if "accuracy_drop" in effects else "kl"
    arm = smk.wildcards.arm
    atomic.write_tsv(
        smk.output.transfer,
        tables.transfer_table(effects, shared_io, pinned),
        header=f"steering transfer, {arm}: ratio = cross-seed / within-seed effect; dev = |ratio - 1|",
    )
    atomic.write_tsv(
        smk.output.dose,
        tables.dose_table(effects, column).assign(effect=column),
        header=f"dose reaching half the largest within-seed {column}, log-interpolated; factor = cross / within",
    )
    atomic.write_tsv(
        smk.output.control,
        tables.control_table(effects),
        header=f"steering effects beside norm-matched random directions on the same model and dose, {arm}",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
