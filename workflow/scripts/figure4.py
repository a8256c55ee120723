"""Figure 4: the four bars' units against their thresholds; IG vs attribution patching."""

from polyrot import atomic, figures
from polyrot.scripting import run_script


def main(smk) -> None:
    records = {bar: atomic.read_json(path) for bar, path in zip(smk.params.bars, smk.input, strict=True)}
    fig = figures.figure4(records, dict(smk.params.scatter))
    figures.save(fig, smk.output.png, smk.output.pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
