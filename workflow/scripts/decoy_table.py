"""Per bar: does the real model pass within-seed while the decoy fails? (the H6 claim's table)"""

from polyrot import atomic, verdicts
from polyrot.bars.decoy import separation
from polyrot.scripting import run_script


def main(smk) -> None:
    table = separation([verdicts.read(p) for p in smk.input], smk.params.model)
    atomic.write_tsv(
        smk.output[0],
        table,
        header="per bar: the real model's within-seed unit and the decoy's worst unit, judged; separates = 1 "
        "when the model passes and the decoy fails (row bar=any: some bar separates)",
    )
    with open(smk.log[0], "w") as fh:
        fh.write(table.to_string(index=False) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
