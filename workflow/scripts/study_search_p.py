"""Bar P as the study's code searches for it, for every unit Bar P judges (and the decoy's):
results/bars/P_study_search.json, which judge_bar_P writes into each unit as `study_search`."""

from threadpoolctl import threadpool_limits

from polyrot import atomic
from polyrot.bars import study_search, unit_fields, unit_pairs
from polyrot.scripting import run_script
from polyrot.toy.transformer import ToyConfig


def main(smk) -> None:
    p = smk.params
    paths = dict(zip(p.models, smk.input.models, strict=True)) | {p.decoy["model"]: smk.input.decoy}
    weights = {m: study_search.load(path) for m, path in paths.items()}
    units, lines = {}, []
    with threadpool_limits(limits=smk.threads):  # 64 x 64 matrices: more BLAS threads only cost
        for model, ref in unit_pairs(paths, p.references):
            unit = unit_fields(model, ref)
            entry = study_search.unit_entry(
                weights[ref], weights[model], ToyConfig().n_heads, p.search, refine_it=unit["kind"] == "cross"
            )
            units[unit["unit"]] = entry
            b = entry["baseline"]
            lines.append(
                f"{unit['unit']}: baseline {b['max_tensor_mse']:.4g} ({b['worst_tensor']}) in {b['seconds']:.1f} s"
                + (f", refined {entry['refined']['max_tensor_mse']:.4g}" if "refined" in entry else "")
            )
    atomic.write_json(smk.output[0], {"settings": p.search, "units": units})
    with open(smk.log[0], "w") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    run_script(main, snakemake)  # noqa: F821
