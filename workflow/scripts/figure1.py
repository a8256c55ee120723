"""Figure 1 (EV per site with nulls) and the decoder-cosine figure, from every arm's tables."""

import pandas as pd

from polyrot import figures
from polyrot.scripting import run_script


def read(paths, arms) -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(p, sep="\t", comment="#").assign(arm=a) for a, p in zip(arms, paths, strict=True)],
        ignore_index=True,
    )


def main(smk) -> None:
    figures.save(figures.figure1(read(smk.input.ev, smk.params.arms)), smk.output.png, smk.output.pdf)
    cos = read(smk.input.cosine, smk.params.arms)
    shared = read(smk.input.cosine_shared_init, smk.params.arms)
    figures.save(figures.decoder_cosine_figure(cos, shared), smk.output.cosine_png, smk.output.cosine_pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
