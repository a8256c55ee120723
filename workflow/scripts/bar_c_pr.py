"""Judge Bars C and Pr (within-seed, cross-seed and the decoy) from each model's effects;
write results/bars/C.json and Pr.json."""

from polyrot import atomic, config, prereg, verdicts
from polyrot.bars import causal, unit_fields, unit_pairs
from polyrot.scripting import run_script

# bar -> (the registered IG statistic, the attribution-patching one reported beside it)
STATISTICS = {"C": ("causal_r_ig", "causal_r_ap"), "Pr": ("predictive_r_ig", "predictive_r_ap")}


def main(smk) -> None:
    p = smk.params
    reg = prereg.load(*smk.input.prereg)
    models = [*p.models, p.decoy["model"]]
    effects = {m: atomic.read_json(path) for m, path in zip(models, smk.input.effects, strict=True)}
    bar_p = atomic.read_json(smk.input.alignment)
    alignment = {u["unit"]: u for u in bar_p["units"] + bar_p["decoy"]["units"]}
    compared = []
    for model, ref in unit_pairs(models, p.references):
        unit = unit_fields(model, ref)
        # cross-seed, heads matched through Bar P's alignment of this model to its reference
        perm = alignment[unit["unit"]]["head_perm"] if unit["kind"] == "cross" else None
        compared.append((unit, perm, causal.compare(effects[ref]["predicted"], effects[model]["measured"], perm)))
    lines = []
    for bar, out in (("C", smk.output.C), ("Pr", smk.output.Pr)):
        ig, ap = STATISTICS[bar]
        units = [
            {
                **unit,
                "value": float("nan") if r[ig] is None else r[ig],
                "r_attribution_patching": r[ap],
                "head_perm": perm,
                "components": r["components"],
            }
            for unit, perm, r in compared
        ]
        record = verdicts.write_verdict(
            out,
            bar,
            units,
            reg,
            config.stable_hash(dict(p.items())),
            smk.input,
            extra={
                "checkpoint": p.checkpoint,
                "settings": p.causal,
                "predictor": f"integrated gradients, mean to clean, {causal.IG_STEPS} midpoint steps",
                "reported_beside": "r_attribution_patching: first-order attribution patching from the ablated run",
            },
            decoy=p.decoy,
        )
        lines.append(verdicts.describe(record))
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
