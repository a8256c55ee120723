# Shared by all rule files -- the validated config, the preregistration check, path helpers.
import os

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


NEOX = CFG.neox

# On a cluster, the rules that can use a GPU (training, extraction, SAEs) ask for one on the
# partition named by POLYROT_GPU_PARTITION when it is set; otherwise they ask for none.
GPU_PARTITION = os.environ.get("POLYROT_GPU_PARTITION", "")
GPU = {"gpu": 1, "slurm_partition": GPU_PARTITION} if GPU_PARTITION else {}


def benchmark_file(rule, *keys):
    """Where a heavy rule's `benchmark:` record goes (gathered by `benchmark_table`)."""
    return RESULTS / "benchmarks" / rule / ("-".join(keys) + ".tsv")


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
    return _arm_spec("toy", CFG.models, pairs, CFG.audit.checkpoint)


def _neox_arm():
    pairs = [("neox", a, b) for a, b in NEOX.pairs]
    return _arm_spec("neox", list(NEOX.models), pairs, NEOX.revision)


def _arm_spec(arm, models, pairs, checkpoint):
    audit = CFG.audit.arms[arm]
    return {
        "models": models,
        "pairs": pairs,
        "sites": list(audit.sites),
        "checkpoint": checkpoint,
        "sae": polyrot.config.as_dict(audit.sae),
        "drift": None if audit.drift is None else polyrot.config.as_dict(audit.drift),
    }


# What the arm-agnostic audit rules iterate over, per arm.
ARMS = {"toy": _toy_arm(), **({"neox": _neox_arm()} if NEOX is not None else {})}
# Arms with a checkpoint-drift analysis (SPEC §9).
DRIFT_ARMS = [arm for arm, spec in ARMS.items() if spec["drift"] is not None]
# Claims registered in preregistration.md (by amendment), all judged by `judge_claims`.
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
] + [
    {"arm": arm, "table": "drift", "path": str(RESULTS / arm / "drift" / "drift.tsv")} for arm in DRIFT_ARMS
] + [{"arm": "all", "table": "haar_power", "path": str(RESULTS / "haar" / "power.tsv")}]


def acts_file(arm, model, site, split, checkpoint=None):
    """An activation cache; ``checkpoint`` defaults to the arm's audited one."""
    return RESULTS / arm / "acts" / model / (checkpoint or ARMS[arm]["checkpoint"]) / f"{site}.{split}.npz"


def drift_checkpoints(arm, model):
    """The checkpoints of ``model`` that the drift analysis reads besides the audited one."""
    drift = ARMS[arm]["drift"]
    return list(drift["checkpoints"]) if drift is not None and drift["model"] == model else []


def null_site(arm, site):
    return polyrot.audit.null_site_for(ARMS[arm]["sites"], site)


def sae_file(arm, model, site, expansion):
    return RESULTS / arm / "saes" / model / site / f"x{expansion}.safetensors"


# The paper-comparison SAEs (SPEC §12.6, the study's code): every model's SAE from one seed
# and batch order, so untrained decoder rows start identical across models. Where the arm's
# own SAEs are already shared-init, they serve both tables.
SHARED_INIT_DIR = "saes_shared_init"


def shared_init_saes_trained(arm):
    """Whether ``arm`` needs SAEs trained separately for the shared-init comparison."""
    return not ARMS[arm]["sae"]["shared_init"]


def shared_init_sae_file(arm, model, site, expansion):
    if not shared_init_saes_trained(arm):
        return sae_file(arm, model, site, expansion)
    return RESULTS / arm / SHARED_INIT_DIR / model / site / f"x{expansion}.safetensors"


def sae_metric_file(arm, site, expansion, sae_dir="saes"):
    return RESULTS / arm / sae_dir / "metrics" / f"{site}.x{expansion}.tsv"


def sae_metric_files(arm, sae_dir="saes"):
    spec = ARMS[arm]
    return [sae_metric_file(arm, s, e, sae_dir) for s in spec["sites"] for e in spec["sae"]["expansions"]]


def audit_site_inputs(wildcards):
    arm, site = wildcards.arm, wildcards.site
    spec = ARMS[arm]
    return {
        "fit": [acts_file(arm, m, site, "fit") for m in spec["models"]],
        "heldout": [acts_file(arm, m, site, "heldout") for m in spec["models"]],
        "saes": [sae_file(arm, m, site, e) for e in spec["sae"]["expansions"] for m in spec["models"]],
        "rotations": [RESULTS / arm / "rotations" / f"{a}__{b}" / f"{site}.controls.npz" for _, a, b in spec["pairs"]],
        "shared_init_saes": [
            shared_init_sae_file(arm, m, site, e) for e in spec["sae"]["expansions"] for m in spec["models"]
        ],
    }


def toy_checkpoint_input(wildcards):
    """best/ and final/ are DAG outputs; an intermediate stepNNNNNN/ checkpoint is not, so a
    drift extraction waits for the run's final checkpoint and reads the step's weights."""
    which = wildcards.checkpoint if wildcards.checkpoint in ("best", "final") else "final"
    return toy_model_file(wildcards.model, which)


def neox_revisions(model):
    """Revisions of a GPT-NeoX ``model`` that are extracted: the audited one and any drift ones."""
    return [NEOX.revision] + drift_checkpoints("neox", model)


def neox_model_files(model):
    """The offline family's weights are DAG outputs; hub and local models are read at run time."""
    if NEOX.source != "family":
        return []
    return [RESULTS / f"neox/models/{model}/{rev}/model.safetensors" for rev in neox_revisions(model)]


def benchmark_inputs():
    """Every `benchmark:` record the default target produces."""
    files = [benchmark_file("train_toy", m) for m in CFG.models]
    files += [
        benchmark_file("extract_toy", m, c)
        for m in CFG.models
        for c in [CFG.audit.checkpoint] + drift_checkpoints("toy", m)
    ]
    for arm, spec in ARMS.items():
        files += [
            benchmark_file(f"train_saes_{arm}", s, f"x{e}") for s in spec["sites"] for e in spec["sae"]["expansions"]
        ]
    if NEOX is not None:
        files += [benchmark_file("extract_neox", m) for m in NEOX.models]
        if NEOX.source == "family":
            files += [benchmark_file("train_neox", m) for m in NEOX.models]
    return files
