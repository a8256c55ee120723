"""Write the decoy: the model's depth unembedding with its classes averaged in pairs."""

from safetensors.numpy import load_file, save_file

from polyrot import atomic
from polyrot.bars.decoy import make_decoy
from polyrot.scripting import run_script


def main(smk) -> None:
    with atomic.atomic_path(smk.output[0]) as tmp:
        save_file(make_decoy(load_file(smk.input[0])), str(tmp))
    with open(smk.log[0], "w") as fh:
        fh.write(f"decoy of {smk.input[0]}: W_U_depth classes averaged in adjacent pairs\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
