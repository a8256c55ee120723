"""Judge Bars C and Pr (within-seed, cross-seed and the decoy) from each model's effects;
write results/bars/C.json and Pr.json."""

from polyrot import atomic, config, prereg, verdicts
from polyrot.bars import causal
from polyrot.scripting import run_script

# bar -> (the registered IG statistic, the attribution-patching one reported beside it)
STATISTICS = {"C": ("causal_r_ig", "causal_r_ap"), "Pr": ("predictive_r_ig", "predictive_r_ap")}


def main(smk) -> None:
    p = smk.params
    reg = prereg.load(*smk.input.prereg)
    models = [*p.models, p.decoy["model"]]
    effects = {m: atomic.read_json(path) for m, path in zip(models, smk.input.effects, strict=True)}
    alignment = {u["unit"]: u for u in atomic.read_json(smk.input.alignment)["units"]}
    alignment |= {u["unit"]: u for u in atomic.read_json(smk.input.alignment)["decoy"]["units"]}
    pairs = []
    for model in models:
        pairs.append(("within", model, model, None))
        if model in p.references:
            # heads matched through Bar P's alignment of this model to its reference
            pairs.append(
                ("cross", model, p.references[model], alignment[f"cross:{model}|{p.references[model]}"]["head_perm"])
            )
    compared = [
        (kind, model, ref, perm, causal.compare(effects[ref]["predicted"], effects[model]["measured"], perm))
        for kind, model, ref, perm in pairs
    ]
    lines = []
    for bar, out in (("C", smk.output.C), ("Pr", smk.output.Pr)):
        ig, ap = STATISTICS[bar]
        units = [
            {
                "unit": f"within:{model}" if kind == "within" else f"cross:{model}|{ref}",
                "kind": kind,
                "model": model,
                "reference": None if kind == "within" else ref,
                "value": float("nan") if r[ig] is None else r[ig],
                "r_attribution_patching": r[ap],
                "head_perm": perm,
                "components": r["components"],
            }
            for kind, model, ref, perm, r in compared
        ]
        record = verdicts.write_verdict(
            out,
            bar,
            [u for u in units if u["model"] != p.decoy["model"]],
            reg,
            config.stable_hash(dict(p.items())),
            smk.input,
            extra={
                "checkpoint": p.checkpoint,
                "settings": p.causal,
                "predictor": f"integrated gradients, mean to clean, {causal.IG_STEPS} midpoint steps",
                "reported_beside": "r_attribution_patching: first-order attribution patching from the ablated run",
            },
            decoy={**p.decoy, "units": [u for u in units if u["model"] == p.decoy["model"]]},
        )
        lines.append(verdicts.describe(record))
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
