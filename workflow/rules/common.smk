# Shared by all rule files (the validated config, the preregistration check) and the one
# function per artefact kind that every rule producing or reading it uses (no path pattern
# is typed twice). A wildcard name such as "{model}" passed to these functions gives the
# pattern a rule declares; a concrete name gives one file.
import os

import polyrot.audit
import polyrot.config
import polyrot.figure_jobs
import polyrot.paths
import polyrot.plan
import polyrot.prereg

# Validate before any job starts: an unknown key, a wrong type or an impossible value stops
# here with a message that names the key.
CFG = polyrot.config.load(config)
# A silent edit of preregistration.md is refused before anything runs.
PREREG = polyrot.prereg.load(CFG.preregistration.document, CFG.preregistration.lock)
PREREG_FILES = [CFG.preregistration.document, CFG.preregistration.lock]
RESULTS = CFG.results_dir
# every file below RESULTS, by artefact (the path table: polyrot.paths.ARTEFACTS)
FILES = polyrot.paths.Results(RESULTS)
CONDA_ENV = "../../envs/polyrot.yaml"
NEOX = CFG.get("neox")

# On a cluster, the rules that can use a GPU (training, extraction, SAEs) ask for one on the
# partition named by POLYROT_GPU_PARTITION when it is set; otherwise they ask for none.
GPU_PARTITION = os.environ.get("POLYROT_GPU_PARTITION", "")
GPU = {"gpu": 1, "slurm_partition": GPU_PARTITION} if GPU_PARTITION else {}


# ---------------------------------------------------------------- the run plan (polyrot.plan)
PLAN = polyrot.plan.build(CFG, PREREG)
# what the arm-agnostic audit rules iterate over, per arm (polyrot.plan.Arm)
ARMS = PLAN.arms
# arms with a checkpoint-drift analysis
DRIFT_ARMS = PLAN.drift_arms
# the registered claims (by amendment) and the judge of each, by the registry entry of its
# table (polyrot.plan.TABLES); `claims` summarises them all
ALL_CLAIMS = sorted(PLAN.claims)
STEERING_CLAIMS = PLAN.claims_judged_by("judge_steering_claims")
AUDIT_CLAIMS = PLAN.claims_judged_by("judge_claims")
# each arm's steering cohorts: every toy cohort, and the GPT-NeoX arm as one
STEERING_COHORTS = PLAN.steering_cohorts
STEERING_TABLES = polyrot.plan.STEERING_TABLES
STEERING = CFG.params("steering")
STEERING_TOY_SITE = CFG.steering.toy.site
# the bars, each judged by its own rule into verdict_file("bars", bar)
BARS = PLAN.bars
# the decoy every bar judges beside the real models, and the model it stands in for
DECOY_OF, DECOY = PLAN.decoy_of, PLAN.decoy
# what every bar's judge receives about the decoy (params)
DECOY_PARAMS = {"model": DECOY, "of": DECOY_OF}
BAR_REFERENCES = PLAN.bar_references
SHARED_IO_ANCHORS = PLAN.shared_io_anchors
# the toy training jobs: stack name -> its models (train.stack models per job)
TOY_STACKS = PLAN.toy_stacks


def neox_revisions(model):
    """Revisions of a GPT-NeoX ``model`` that are extracted: the audited one and any drift ones."""
    return [NEOX.revision] + ARMS["neox"].drift_checkpoints(model)


def neox_revisions_read():
    """Revisions of any GPT-NeoX model that some rule reads."""
    drift = ARMS["neox"].drift
    return [NEOX.revision] + (list(drift["checkpoints"]) if drift else [])


# ---------------------------------------------------------------- files, by artefact (polyrot.paths)
def log_file(rule, *keys):
    return FILES("job_log", job=rule, keys=".".join(keys)) if keys else FILES("log", job=rule)


def benchmark_file(rule, *keys):
    """Where a heavy rule's `benchmark:` record goes (gathered by `benchmark_table`)."""
    return FILES("benchmark", job=rule, keys="-".join(keys))


def toy_model_dir(model):
    """A toy model's training folder: its checkpoints, best/, final/, train_log.tsv."""
    return FILES("toy_model_dir", model=model)


def toy_model_file(model, checkpoint="best"):
    """A toy model's weights: ``best``, ``final`` or an intermediate ``stepNNNNNN``."""
    return FILES("toy_model", model=model, checkpoint=checkpoint)


def toy_checkpoint_file(model, checkpoint):
    """The weights of an intermediate checkpoint ``stepNNNNNN`` that something reads (the
    drift analysis), copied out of the run's checkpoint folder when training has finished:
    Snakemake removes a failed or incomplete job's outputs, and a checkpoint folder must
    survive that for the job to resume."""
    return FILES("toy_checkpoint", model=model, checkpoint=checkpoint)


def toy_weights_input(wildcards):
    """The weights extraction reads: best/ or final/, or a copied-out intermediate checkpoint."""
    if wildcards.checkpoint in ("best", "final"):
        return toy_model_file(wildcards.model, wildcards.checkpoint)
    return toy_checkpoint_file(wildcards.model, wildcards.checkpoint)


def decoy_file():
    return FILES("decoy", model=DECOY, checkpoint=CFG.bars.checkpoint)


def bar_model_file(model):
    """The weights every bar judges for ``model`` (a toy model or the decoy)."""
    return decoy_file() if model == DECOY else toy_model_file(model, CFG.bars.checkpoint)


def study_search_file():
    """Bar P as the study's code searches for it, per unit (judge_bar_P copies it into P.json)."""
    return FILES("study_search")


def causal_effects_file(model):
    """Bars C and Pr: one model's predicted and measured component effects."""
    return FILES("causal_effects", model=model)


def toy_stack_manifest(stack):
    """What a training stack wrote: each model's final step, best step and config hash (the
    per-model rule `train_toy` publishes best/ and final/ from the checkpoints it names)."""
    return FILES("toy_stack", stack=stack)


def toy_meta_file(model, checkpoint):
    return FILES("toy_meta", model=model, checkpoint=checkpoint)


def toy_train_log(model):
    return FILES("toy_train_log", model=model)


def neox_model_file(model, revision):
    """A model of the offline GPT-NeoX family (save_pretrained layout around it)."""
    return FILES("neox_model", model=model, revision=revision)


def neox_corpus_file(name):
    return FILES("neox_corpus", name=name)


def neox_tokenizer_file(name):
    return FILES("neox_tokenizer", name=name)


def acts_file(arm, model, site, split, checkpoint=None):
    """An activation cache; ``checkpoint`` defaults to the arm's audited one."""
    audited = checkpoint or ARMS[arm].checkpoint
    return FILES("acts", arm=arm, model=model, checkpoint=audited, site=site, split=split)


def cache_keys(sites):
    """(site, split) of every cache one extraction job writes, in its outputs' order."""
    return [{"site": site, "split": split} for site in sites for split in ("fit", "heldout")]


def extraction_outputs(arm, sites):
    """One extraction job's caches (temp() where the config opts in), in ``cache_keys`` order."""
    paths = [acts_file(arm, "{model}", k["site"], k["split"], "{checkpoint}") for k in cache_keys(sites)]
    return [temp(p) for p in paths] if CFG.audit.temp_caches else paths


# the SAE sets: the registered SAEs (our recipe), and the paper comparison's (the study's)
SAE_RECIPES = polyrot.plan.SAE_RECIPES


def _recipe(name, recipe):
    """The artefact of the registered SAEs (``recipe`` ours), or the paper comparison's."""
    return name if recipe == "ours" else f"{name}_study_recipe"


def sae_file(arm, model, site, expansion, recipe="ours"):
    return FILES(_recipe("sae", recipe), arm=arm, model=model, site=site, expansion=str(expansion))


def sae_metric_file(arm, site, expansion, recipe="ours"):
    return FILES(_recipe("sae_metrics", recipe), arm=arm, site=site, expansion=str(expansion))


def drift_sae_file(arm, site, expansion):
    """The paper-direction drift's SAE: trained with the study's recipe on the drift model's
    early checkpoint (the study's cross-checkpoint SAE)."""
    drift = ARMS[arm].drift
    return FILES("drift_sae", arm=arm, model=drift["model"], checkpoint=drift["early"], site=site, expansion=str(expansion))


def rotation_file(arm, anchor, other, site, kind):
    """A fitted R (``kind`` npy), its controls (``controls.npz``) or its metadata (``json``)."""
    return FILES("rotation", arm=arm, anchor=anchor, other=other, site=site, kind=kind)


def audit_site_file(arm, site, table):
    return FILES("audit_site", arm=arm, site=site, table=table)


def audit_file(arm, table):
    return FILES("audit", arm=arm, table=table)


def haar_file(arm, table):
    """``arm`` "all" is the arm-independent size/power table."""
    return FILES("haar_power", table=table) if arm == "all" else FILES("haar", arm=arm, table=table)


def drift_file(arm, table="drift"):
    """The drift table (the audited SAE on each earlier checkpoint), or ``paper_direction``
    (the early checkpoint's SAE on the audited one, as the study's code computes it)."""
    return FILES("drift", arm=arm, table=table)


def verdict_file(kind, name):
    """A bar's (``kind`` bars) or a claim's (``claims``) verdict, or their ``summary`` table."""
    return FILES("verdict_summary", kind=kind) if name == "summary" else FILES("verdict", kind=kind, name=name)


def decoy_table_file():
    return FILES("decoy_table")


def steering_file(arm, kind, name, ext="tsv"):
    """Steering outputs: ``kind`` effects/vectors per cohort (``name``; GPT-NeoX: "neox"), or
    ``kind`` "tables" with ``name`` transfer, dose or control (the claims' tables)."""
    if kind == "tables":
        return FILES("steering_table", arm=arm, name=name, ext=ext)
    return FILES("steering", arm=arm, kind=kind, name=name, ext=ext)


def steering_others(arm, cohort):
    """(anchor, the other models) of one steering cohort."""
    if arm == "neox":
        return NEOX.anchor, [m for m in NEOX.models if m != NEOX.anchor]
    c = CFG.cohorts[cohort]
    return c.anchor_model, [m for m in c.models if m != c.anchor_model]


def steering_outputs(arm):
    return {
        "effects": ensure(steering_file(arm, "effects", "{cohort}"), non_empty=True),
        "vectors": steering_file(arm, "vectors", "{cohort}", "npz"),
        "meta": steering_file(arm, "vectors", "{cohort}", "json"),
    }


def figure_files(name, caption=None, category=None, subcategory=None):
    """A figure's PNG and PDF; with a ``caption`` (an .rst under workflow/report/) the PNG is
    a `snakemake --report` result in ``category`` / ``subcategory``."""
    files = {ext: FILES("figure", name=name, ext=ext) for ext in ("png", "pdf")}
    if caption is not None:
        files["png"] = report_file(files["png"], caption, category, subcategory)
    return files


# ---------------------------------------------------------------- `snakemake --report`
# The report's categories: one per hypothesis of preregistration.md, and a few around them.
REPORT_CATEGORY = {
    "training": "0 Training",
    # H1 is judged by Bar B: its results are the bars' (Figure 4, the bars summary)
    "H1": "H6 bars and decoy (H1: Bar B)",
    "H2": "H2 rotation audit",
    "H3": "H3 Haar",
    "H4": "H4 steering",
    "H5": "H5 checkpoints",
    "H6": "H6 bars and decoy (H1: Bar B)",
    "summary": "Summary",
    "ledger": "Ledger",
}
# a result drawn from every arm of the run
ALL_ARMS = PLAN.arm_label()


def report_file(path, caption, category, subcategory=None):
    """``path`` as a report() result; ``caption`` names a file in workflow/report/."""
    return report(
        path,
        caption=f"../report/{caption}",
        category=REPORT_CATEGORY.get(category, category),
        subcategory=subcategory,
    )


# `snakemake figures` (figures.smk) redraws every figure of the registry
# (polyrot.figure_jobs.JOBS; the drift figure where drift runs), each as its own rule declares it.
FIGURE_RULES = [name for name in polyrot.figure_jobs.JOBS if name != "drift_figure" or DRIFT_ARMS]


def _figure_job(name):
    proxy = getattr(rules, name)

    def plain(value):
        return [str(v) for v in value] if isinstance(value, list) else str(value)

    return {
        "input": {k: plain(v) for k, v in proxy.input.items()},
        "params": dict(proxy.params.items()),
        "output": {k: str(v) for k, v in proxy.output.items()},
    }


# What every caption and the report's front page show (captions see `snakemake.config`; this
# key is added after validation, so no rule's params, and no rerun, depend on it).
config["_report"] = {
    "configfiles": [os.path.relpath(f) for f in workflow.overwrite_configfiles] or ["config/config.yaml"],
    "overrides": dict(workflow.config_settings.config or {}),
    "arms": ALL_ARMS,
    "preregistration": {
        "document": str(CFG.preregistration.document),
        "sha256": PREREG.file_sha256,
        "registered_sha256": PREREG.registered_sha256,
        "amendments": len(PREREG.amendments),
    },
}


# ---------------------------------------------------------------- inputs that depend on a job
def frozen_io_input(wildcards):
    """Cohort A's non-anchor seeds train on the anchor's trained (best) I/O weights: one
    input per such model of the stack, ``frozen_io_{model}``."""
    return {
        f"frozen_io_{m}": toy_model_file(CFG.cohort_of(m).anchor_model, "best")
        for m in TOY_STACKS[wildcards.stack]
        if CFG.needs_anchor(m)
    }


def audit_site_inputs(wildcards):
    arm, site = ARMS[wildcards.arm], wildcards.site
    saes = lambda recipe: [sae_file(arm.name, m, site, e, recipe) for e in arm.sae["expansions"] for m in arm.models]
    return {
        "fit": [acts_file(arm.name, m, site, "fit") for m in arm.models],
        "heldout": [acts_file(arm.name, m, site, "heldout") for m in arm.models],
        "saes": saes("ours"),
        "rotations": [rotation_file(arm.name, p.anchor, p.other, site, "controls.npz") for p in arm.pairs],
        "study_saes": saes("study"),
    }


# The tables claims and the ledger read, as the registry names them (polyrot.plan.TABLES):
# {"arm", "table", "path"} each, in input order.
CLAIM_TABLES = polyrot.plan.as_rows(PLAN.claim_tables("judge_claims"))
STEERING_CLAIM_TABLES = polyrot.plan.as_rows(PLAN.claim_tables("judge_steering_claims"))
# every table the claims ledger reads, only what this run makes: ours, and the paper
# comparison's (the study's computations beside ours)
LEDGER_TABLES = polyrot.plan.as_rows(PLAN.tables(polyrot.plan.LEDGER_TABLES))
# what the ledger says of this run's scale
LEDGER_SCALE = polyrot.plan.ledger_scale(CFG)


def ledger_file(ext):
    return FILES("ledger", ext=ext)


def benchmark_inputs():
    """Every `benchmark:` record the default target produces."""
    files = [benchmark_file("train_toy_stack", s) for s in TOY_STACKS]
    files += [benchmark_file("steering_toy", c) for c in CFG.cohorts]
    files += [benchmark_file("steering_study_toy", c) for c in CFG.cohorts]
    files += [benchmark_file(f"train_drift_saes_{arm}", "all") for arm in DRIFT_ARMS]
    files += [benchmark_file("steering_neox", "neox")] if NEOX is not None else []
    files += [benchmark_file("judge_bar_P", "all"), benchmark_file("study_search_P", "all")]
    files += [benchmark_file("causal_effects", m) for m in CFG.models + [DECOY]]
    files += [
        benchmark_file("extract_toy", m, c) for m in CFG.models for c in [CFG.audit.checkpoint] + ARMS["toy"].drift_checkpoints(m)
    ]
    for arm, spec in ARMS.items():
        files += [benchmark_file(f"train_saes_{arm}", k["site"], f"x{k['expansion']}") for k in spec.sae_keys()]
    if NEOX is not None:
        files += [benchmark_file("extract_neox", m, r) for m in NEOX.models for r in neox_revisions(m)]
        if NEOX.source == "family":
            files += [benchmark_file("train_neox", m) for m in NEOX.models]
    return files
