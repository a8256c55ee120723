"""The size/power table of the Haar tests."""

import torch

from polyrot import atomic
from polyrot.haar import power as haar_power
from polyrot.scripting import run_script


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    h = smk.params.haar
    table = haar_power.power_table(
        {p["d"]: p["n"] for p in h["power"]}, h["alpha"], h["seed"], h["n_null"], h["n_reference"]
    )
    atomic.write_tsv(
        smk.output[0],
        table,
        header="rejection rate of Haar at level alpha per (d, alternative, test); haar_* rows are the size, "
        "the others the power.\nks_exact: one-sample KS of the free eigen-angles against the exact Haar law "
        "(conservative: angles repel); frobenius_z: |R - I|_F against its Monte-Carlo Haar mean and sd; "
        "ks_pooled_paper: the paper's two-sample KS of all |angles| against sampled Haar matrices",
    )


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
