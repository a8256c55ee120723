"""Judge Bars C and Pr (within-seed, cross-seed and the decoy) from each model's effects;
write results/bars/C.json and Pr.json."""

from polyrot import atomic, config, prereg, verdicts
from polyrot.bars import causal, unit_fields, unit_pairs
from polyrot.scripting import run_script

# bar -> (the registered IG statistic, the attribution-patching ones reported beside it: from
# the ablated run, and from the clean run as the study's code computes it)
STATISTICS = {
    "C": ("causal_r_ig", "causal_r_ap", "causal_r_ap_clean"),
    "Pr": ("predictive_r_ig", "predictive_r_ap", "predictive_r_ap_clean"),
}
STUDY_CONVENTION = (
    "the study's C = Pr: integrated gradients of the loss on the reference against the measured loss change of "
    "ablating the other model's component, ablating to one global mean over non-PAD positions, cross-seed heads "
    "matched by the study's search (study_search in P.json); r_attribution_patching: the study's attribution "
    "patching, the loss's gradient at the clean run times (mean - clean)"
)


def main(smk) -> None:
    p = smk.params
    reg = prereg.load(*smk.input.prereg)
    models = [*p.models, p.decoy["model"]]
    effects = {m: atomic.read_json(path) for m, path in zip(models, smk.input.effects, strict=True)}
    bar_p = verdicts.read(smk.input.alignment)
    alignment = {u["unit"]: u for u in bar_p.units + bar_p.decoy.units}
    compared = []
    for model, ref in unit_pairs(models, p.references):
        unit = unit_fields(model, ref)
        cross = unit["kind"] == "cross"
        # cross-seed heads matched through Bar P's alignment (registered), the study's search,
        # or by index
        perms = {
            "bar_P": alignment[unit["unit"]]["head_perm"] if cross else None,
            "study_search": alignment[unit["unit"]]["study_search"]["baseline"]["head_perm"] if cross else None,
            "identity": None,
        }
        by = {k: causal.compare(effects[ref]["predicted"], effects[model]["measured"], v) for k, v in perms.items()}
        g_ref, g_other = effects[ref]["global_mean"], effects[model]["global_mean"]
        study = causal.compare(g_ref["predicted"], g_other["measured"], perms["study_search"])
        compared.append((unit, perms, by, study))
    lines = []
    for bar, out in (("C", smk.output.C), ("Pr", smk.output.Pr)):
        ig, ap, ap_clean = STATISTICS[bar]
        units = []
        for unit, perms, by, study in compared:
            r = by["bar_P"]
            units.append(
                {
                    **unit,
                    "value": float("nan") if r[ig] is None else r[ig],
                    "r_attribution_patching": r[ap],
                    "r_attribution_patching_clean": r[ap_clean],
                    **({"r_by_head_matching": {k: v[ig] for k, v in by.items()}} if unit["kind"] == "cross" else {}),
                    "study_convention": {
                        "r_ig": study["predictive_r_ig"],
                        "r_attribution_patching": study["predictive_r_ap_clean"],
                        "head_perm": perms["study_search"],
                    },
                    "head_perm": perms["bar_P"],
                    "components": r["components"],
                }
            )
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
                "reported_beside": {
                    "r_attribution_patching": "first-order attribution patching from the ablated run",
                    "r_attribution_patching_clean": "first-order attribution patching from the clean run (the study's "
                    "direction), on the loss: the KL's gradient at the clean run is zero by construction",
                    "r_by_head_matching": "the registered r with cross-seed heads matched by Bar P's alignment "
                    "(bar_P, registered), by the study's search (study_search) and by index (identity)",
                    "study_convention": STUDY_CONVENTION,
                },
            },
            decoy=p.decoy,
        )
        lines.append(verdicts.describe(record))
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
