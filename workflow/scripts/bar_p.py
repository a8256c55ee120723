"""Judge Bar P (within-seed, cross-seed and the decoy) and write results/bars/P.json."""

from threadpoolctl import threadpool_limits

from polyrot import atomic, config, prereg, verdicts
from polyrot.bars import parametric, unit_pairs
from polyrot.scripting import run_script


def main(smk) -> None:
    # the job's threads bound BLAS too: on 64 x 64 matrices more threads only cost (one
    # cross-seed pair: 4.3 s on one thread, 7.4 s on two)
    with threadpool_limits(limits=smk.threads):
        judge(smk)


def judge(smk) -> None:
    p = smk.params
    reg = prereg.load(*smk.input.prereg)
    paths = dict(zip(p.models, smk.input.models, strict=True)) | {p.decoy["model"]: smk.input.decoy}
    weights = {m: parametric.load_toy(path) for m, path in paths.items()}
    study = atomic.read_json(smk.input.study)["units"]
    units, lines = [], []
    for model, ref in unit_pairs(paths, p.references):
        (ref_w, n_heads), (other_w, _) = weights[ref], weights[model]
        units.append(parametric.unit(ref, model, parametric.align(ref_w, other_w, n_heads, **p.bar)))
        # the study's own search of the same unit, beside the registered statistic (not judged)
        units[-1]["study_search"] = study[units[-1]["unit"]]
        lines.append(f"{units[-1]['unit']}: max tensor MSE {units[-1]['value']:.4g} in {units[-1]['seconds']:.1f} s")
    record = verdicts.write_verdict(
        smk.output[0],
        "P",
        units,
        reg,
        config.stable_hash(dict(p.items())),
        smk.input,
        extra={
            "checkpoint": p.checkpoint,
            "search": p.bar,
            "reported_beside": "study_search: each unit searched as the study's code searches (polyrot.bars."
            "study_search; baseline, baseline with its rotation step as fitted, and the refined R), not judged",
        },
        decoy=p.decoy,
    )
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n" + verdicts.describe(record) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
