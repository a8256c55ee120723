"""The paper comparison's toy steering tables: ratios (the other seeds' mean effect over the
within-seed one, undefined where that is 0) and dose factors, per setup and target."""

import pandas as pd

from polyrot import atomic
from polyrot.scripting import run_script
from polyrot.steering import tables


def main(smk) -> None:
    effects = pd.concat([pd.read_csv(f, sep="\t", comment="#") for f in smk.input], ignore_index=True)
    effects["cohort"] = effects["cohort"].astype(str)
    atomic.write_tsv(
        smk.output.ratios,
        tables.study_ratios(effects),
        header="toy steering, paper comparison: ratio = the other seeds' mean effect / the within-seed effect "
        "(undefined, NaN, where the within-seed effect is 0); setup heldout (ours) or study (the analysis batch); "
        "target ours or study (accuracy drop), or kl",
    )
    atomic.write_tsv(
        smk.output.doses,
        tables.study_doses(effects),
        header="toy steering, paper comparison: the dose at which the within-seed and the other seeds' mean "
        "accuracy-drop curves first reach half the largest within-seed drop (log-interpolated on the fine grid); "
        "dose_factor = cross / within",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
