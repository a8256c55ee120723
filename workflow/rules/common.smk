# Shared by all rule files -- the validated config, the preregistration check, path helpers.
import polyrot.config
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
