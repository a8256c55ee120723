# Shared by all rule files -- the validated config, the preregistration check, path helpers.
import polyrot.config
import polyrot.audit
import polyrot.prereg

# Validate before any job starts: an unknown key, a wrong type or an impossible value stops
# here with a message that names the key.
CFG = polyrot.config.load(config)
# A silent edit of preregistration.md is refused before anything runs.
PREREG = polyrot.prereg.load(CFG.preregistration, CFG.preregistration_lock)
RESULTS = CFG.results_dir
CONDA_ENV = "../../envs/polyrot.yaml"
SHARED_IO_ANCHORS = {c.anchor_model for c in CFG.cohorts.values() if c.shared_io}


def toy_model_file(model, which="best"):
    return RESULTS / "toy" / "models" / model / which / "model.safetensors"


def frozen_io_input(wildcards):
    """Cohort A's non-anchor seeds train on the anchor's trained (best) I/O weights."""
    cohort = CFG.cohort_of(wildcards.model)
    if cohort.shared_io and wildcards.model != cohort.anchor_model:
        return {"frozen_io": toy_model_file(cohort.anchor_model, "best")}
    return {}


def _toy_arm():
    pairs = [(c.name, c.anchor_model, m) for c in CFG.cohorts.values() for m in c.models if m != c.anchor_model]
    toy = CFG.audit.arms["toy"]
    return {
        "models": CFG.models,
        "pairs": pairs,
        "sites": list(toy.sites),
        "checkpoint": CFG.audit.checkpoint,
        "sae": polyrot.config.as_dict(toy.sae),
    }


# What the arm-agnostic audit rules iterate over, per arm.
ARMS = {"toy": _toy_arm()}
# Claims registered in preregistration.md (by amendment), each judged by `judge_claim`.
AUDIT_CLAIMS = sorted(PREREG.effective.get("claims", {}))


# Every table a preregistered claim may name: (arm or "all", table name, path).
CLAIM_TABLES = [
    {"arm": arm, "table": table, "path": str(RESULTS / arm / sub / f"{name}.tsv")}
    for arm in ARMS
    for table, sub, name in (
        ("ev", "audit", "ev"),
        ("decoder_cosine", "audit", "decoder_cosine"),
        ("firing", "audit", "firing"),
        ("haar_rotations", "haar", "rotations"),
    )
] + [{"arm": "all", "table": "haar_power", "path": str(RESULTS / "haar" / "power.tsv")}]


def acts_file(arm, model, site, split):
    return RESULTS / arm / "acts" / model / ARMS[arm]["checkpoint"] / f"{site}.{split}.npz"


def null_site(arm, site):
    return polyrot.audit.null_site_for(ARMS[arm]["sites"], site)


def sae_file(arm, model, site, expansion):
    return RESULTS / arm / "saes" / model / site / f"x{expansion}.safetensors"


def sae_metric_files(arm):
    spec = ARMS[arm]
    return [RESULTS / arm / "saes/metrics" / f"{s}.x{e}.tsv" for s in spec["sites"] for e in spec["sae"]["expansions"]]


def audit_site_inputs(wildcards):
    arm, site = wildcards.arm, wildcards.site
    spec = ARMS[arm]
    return {
        "fit": [acts_file(arm, m, site, "fit") for m in spec["models"]],
        "heldout": [acts_file(arm, m, site, "heldout") for m in spec["models"]],
        "saes": [sae_file(arm, m, site, e) for e in spec["sae"]["expansions"] for m in spec["models"]],
        "rotations": [RESULTS / arm / "rotations" / f"{a}__{b}" / f"{site}.controls.npz" for _, a, b in spec["pairs"]],
    }
