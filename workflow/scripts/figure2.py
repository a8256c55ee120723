"""Figure 2: the fitted rotations against the Haar laws, with the size/power table."""

import numpy as np
import pandas as pd

from polyrot import figures, haar
from polyrot.haar import power as haar_power
from polyrot.scripting import run_script


def main(smk) -> None:
    h = smk.params.haar
    rng = np.random.default_rng(h["seed"])
    frobenius: dict = {}
    angles: dict = {}
    for path in smk.input.matrices:
        R = np.load(path)
        d, det = R.shape[0], haar.component(R)
        frobenius.setdefault(d, []).append(haar.frobenius(R))
        angles.setdefault((d, det), []).append(haar.free_angles(R))
    angles = {k: np.concatenate(v) for k, v in angles.items()}
    null = {(d, det): haar.frobenius_null(d, det, rng, h["n_null"]) for (d, det) in angles}
    power = pd.read_csv(smk.input.power, sep="\t", comment="#")
    alt_d = int(min(power["d"]))
    alternatives = {
        name: np.concatenate([haar.free_angles(make(alt_d, rng)) for _ in range(20)])
        for name, make in haar_power.ALTERNATIVES.items()
        if name != "haar_det-1"
    }
    fig = figures.figure2(frobenius, angles, null, power, alternatives, alt_d)
    figures.save(fig, smk.output.png, smk.output.pdf)


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
