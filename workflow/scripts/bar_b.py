"""Judge Bar B (within-seed and cross-seed) and write results/bars/B.json."""

import torch

from polyrot import config, prereg, settings, verdicts
from polyrot.bars import behavioural
from polyrot.scripting import run_script
from polyrot.toy import train


def main(smk) -> None:
    torch.set_num_threads(smk.threads)
    p = smk.params
    reg = prereg.load(*smk.input.prereg)
    spec = reg.bar("B")
    device = train.resolve_device(p.device)
    paths = dict(zip(p.models, smk.input.models, strict=True)) | {p.decoy["model"]: smk.input.decoy}
    models = {m: train.load_weights(path, device).eval() for m, path in paths.items()}
    b = p.bar
    task = settings.parse(settings.TaskConfig, p.task)
    args = (
        models,
        dict(p.references),
        task,
        b["n_samples"],
        b["batch_size"],
        b["seed"],
        float(spec["epsilon"]),
        device,
    )
    units = behavioural.bar_b_units(*args)
    # The study code's sampling mix and smoothing, reported beside the registered statistic
    # (each unit's "study_code" entry); the verdict judges only the registered one.
    study = {u["unit"]: u for u in behavioural.bar_b_units(*args, mixture="study_code", smoothing="study_code")}
    for u in units:
        s = study[u["unit"]]
        u["study_code"] = {k: s[k] for k in ("value", "ci95", "per_head", "n_sequences", "n_positions")}
    record = verdicts.write_verdict(
        smk.output[0],
        "B",
        units,
        reg,
        config.stable_hash(dict(p.items())),
        smk.input,
        extra={
            "n_samples": b["n_samples"],
            "checkpoint": p.checkpoint,
            "models": list(p.models),
            "epsilon": spec["epsilon"],
            "study_code": {
                "note": "not judged: Bar B as the study's code computes it, beside each unit's registered value",
                "mixture": behavioural.STUDY_CODE_MIX,
                "smoothing": "1 - epsilon on the true class, epsilon / (K - 1) on each other class",
                "worst_value": max(u["study_code"]["value"] for u in units if u["model"] != p.decoy["model"]),
            },
        },
        decoy=p.decoy,
    )
    with open(smk.log[0], "w") as fh:
        fh.write(verdicts.describe(record) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
