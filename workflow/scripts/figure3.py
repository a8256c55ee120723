"""Figure 3: steering dose-response (KL on both arms; the toy's targeted accuracy drop)."""

import pandas as pd

from polyrot import figures
from polyrot.scripting import run_script


def _read(paths, arms):
    return pd.concat(
        [pd.read_csv(p, sep="\t", comment="#").assign(arm=a) for p, a in zip(paths, arms, strict=True)],
        ignore_index=True,
    )


def main(smk) -> None:
    effects = _read(smk.input.effects, smk.params.effect_arms)
    transfer = _read(smk.input.transfer, smk.params.transfer_arms)
    figures.save(figures.figure3(effects, transfer, "kl"), smk.output.png, smk.output.pdf)
    acc = figures.figure3(effects, transfer, "accuracy_drop")
    figures.save(acc, smk.output.accuracy_png, smk.output.accuracy_pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
