# Shared by all rule files (the validated config, the preregistration check) and the one
# function per artefact kind that every rule producing or reading it uses (no path pattern
# is typed twice). A wildcard name such as "{model}" passed to these functions gives the
# pattern a rule declares; a concrete name gives one file.
import os

import polyrot.audit
import polyrot.config
import polyrot.figure_jobs
import polyrot.paths
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


# ---------------------------------------------------------------- what each arm audits
def _arm_spec(arm):
    audit = CFG.raw["audit"][arm]
    if arm == "toy":
        models = CFG.models
        pairs = [(c.name, c.anchor_model, m) for c in CFG.cohorts.values() for m in c.models if m != c.anchor_model]
        audited = CFG.audit.checkpoint
    else:
        models, audited = list(NEOX.models), NEOX.revision
        pairs = [("neox", a, b) for a, b in CFG.neox_pairs]
    groups = [list(c.models) for c in CFG.cohorts.values()] if arm == "toy" else [models]
    names = list(CFG.cohorts) if arm == "toy" else ["neox"]
    return {
        "models": models,
        "pairs": pairs,
        # every pair of models within a cohort (the paper's Pythia decoder cosine: all 36 pairs)
        "all_pairs": [(n, a, b) for n, g in zip(names, groups) for i, a in enumerate(g) for b in g[i + 1 :]],
        "sites": list(audit["sites"]),
        "checkpoint": audited,
        "sae": CFG.params(f"audit.{arm}.sae"),
        "drift": CFG.params(f"audit.{arm}.drift") if "drift" in audit else None,
    }


# What the arm-agnostic audit rules iterate over, per arm.
ARMS = {arm: _arm_spec(arm) for arm in CFG.arms}
# Arms with a checkpoint-drift analysis (SPEC §9).
DRIFT_ARMS = [arm for arm, spec in ARMS.items() if spec["drift"] is not None]
# Claims registered in preregistration.md (by amendment): the steering claims (their tables
# are steering_*) are judged by `judge_steering_claims` and gated by `steering`, every other
# one by `judge_claims`; `claims` summarises them all.
ALL_CLAIMS = sorted(PREREG.effective.get("claims", {}))
STEERING_CLAIMS = [c for c in ALL_CLAIMS if PREREG.claim(c)["table"].startswith("steering_")]
AUDIT_CLAIMS = [c for c in ALL_CLAIMS if c not in STEERING_CLAIMS]
# Each arm's steering cohorts: every toy cohort, and the GPT-NeoX arm as one.
STEERING_COHORTS = {"toy": list(CFG.cohorts), **({"neox": ["neox"]} if NEOX is not None else {})}
STEERING_TABLES = ["transfer", "dose", "control"]
STEERING = CFG.params("steering")
STEERING_TOY_SITE = CFG.steering.toy.site
# The four bars (SPEC §8), each judged by its own rule into verdict_file("bars", bar).
BARS = ["B", "P", "C", "Pr"]
# The decoy every bar judges beside the real models, and the model it stands in for.
DECOY_OF = CFG.bars.decoy.model
DECOY = f"{DECOY_OF}-decoy"
# what every bar's judge receives about the decoy (params)
DECOY_PARAMS = {"model": DECOY, "of": DECOY_OF}
# Each non-anchor toy model's cross-seed reference in every bar: its cohort's anchor; the
# decoy's: the model it is made from.
BAR_REFERENCES = {
    **{m: c.anchor_model for c in CFG.cohorts.values() for m in c.models if m != c.anchor_model},
    DECOY: DECOY_OF,
}
SHARED_IO_ANCHORS = {c.anchor_model for c in CFG.cohorts.values() if c.shared_io}
# the toy training jobs: stack name -> its models (train.stack models per job)
TOY_STACKS = CFG.toy_stacks


def drift_checkpoints(arm, model):
    """The checkpoints of ``model`` that the drift analysis reads besides the audited one."""
    drift = ARMS[arm]["drift"]
    return list(drift["checkpoints"]) if drift is not None and drift["model"] == model else []


def null_site(arm, site):
    return polyrot.audit.null_site_for(ARMS[arm]["sites"], site)


def neox_revisions(model):
    """Revisions of a GPT-NeoX ``model`` that are extracted: the audited one and any drift ones."""
    return [NEOX.revision] + drift_checkpoints("neox", model)


def neox_revisions_read():
    """Revisions of any GPT-NeoX model that some rule reads."""
    drift = ARMS["neox"]["drift"]
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
    audited = checkpoint or ARMS[arm]["checkpoint"]
    return FILES("acts", arm=arm, model=model, checkpoint=audited, site=site, split=split)


def cache_keys(sites):
    """(site, split) of every cache one extraction job writes, in its outputs' order."""
    return [{"site": site, "split": split} for site in sites for split in ("fit", "heldout")]


def extraction_outputs(arm, sites):
    """One extraction job's caches (temp() where the config opts in), in ``cache_keys`` order."""
    paths = [acts_file(arm, "{model}", k["site"], k["split"], "{checkpoint}") for k in cache_keys(sites)]
    return [temp(p) for p in paths] if CFG.audit.temp_caches else paths


# The SAE sets: the registered SAEs (our recipe), and the paper comparison's, trained with the
# study's recipe (polyrot.sae.RECIPES) on the same activations at the same settings.
SAE_RECIPES = ["ours", "study"]


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
    drift = ARMS[arm]["drift"]
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
ARM_NAMES = {"toy": "toy", "neox": "GPT-NeoX"}
# a result drawn from every arm of the run
ALL_ARMS = " and ".join(ARM_NAMES[a] for a in ARMS)


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
    arm, site = wildcards.arm, wildcards.site
    spec = ARMS[arm]
    saes = lambda recipe: [sae_file(arm, m, site, e, recipe) for e in spec["sae"]["expansions"] for m in spec["models"]]
    return {
        "fit": [acts_file(arm, m, site, "fit") for m in spec["models"]],
        "heldout": [acts_file(arm, m, site, "heldout") for m in spec["models"]],
        "saes": saes("ours"),
        "rotations": [rotation_file(arm, a, b, site, "controls.npz") for _, a, b in spec["pairs"]],
        "study_saes": saes("study"),
    }


def haar_rotation_keys(arm):
    """(cohort, anchor, other, site) of every fitted R of ``arm``, in one fixed order."""
    spec = ARMS[arm]
    return [{"cohort": c, "anchor": a, "other": b, "site": s} for s in spec["sites"] for c, a, b in spec["pairs"]]


def drift_caches(arm):
    """(checkpoint, site, split) of every cache the drift of ``arm`` reads, in input order:
    the audited checkpoint's, then each earlier checkpoint's."""
    spec = ARMS[arm]
    return [
        {"checkpoint": c, "site": s, "split": split}
        for c in [spec["checkpoint"]] + spec["drift"]["checkpoints"]
        for s in spec["sites"]
        for split in ("fit", "heldout")
    ]


def drift_saes(arm):
    spec = ARMS[arm]
    return [{"site": s, "expansion": e} for s in spec["sites"] for e in spec["sae"]["expansions"]]


def arm_table_file(arm, table):
    """A per-arm results table by the name claims and the ledger give it."""
    return {
        "ev": audit_file(arm, "ev"),
        "decoder_cosine": audit_file(arm, "decoder_cosine"),
        "ev_study_recipe": audit_file(arm, "ev_study_recipe"),
        "decoder_cosine_study_recipe": audit_file(arm, "decoder_cosine_study_recipe"),
        "firing_study_recipe": audit_file(arm, "firing_study_recipe"),
        "decoder_cosine_all_pairs_study_recipe": audit_file(arm, "decoder_cosine_all_pairs_study_recipe"),
        "firing": audit_file(arm, "firing"),
        "haar_rotations": haar_file(arm, "rotations"),
        "haar_pooled": haar_file(arm, "pooled_paper_test"),
    }[table]


def results_tables(per_arm, arm_free):
    """(arm or "all", table name, path) of the tables ``per_arm`` of every arm, each drift
    arm's drift table, and the arm-free tables ``arm_free`` (name -> path)."""
    return (
        [{"arm": arm, "table": t, "path": str(arm_table_file(arm, t))} for arm in ARMS for t in per_arm]
        + [{"arm": arm, "table": "drift", "path": str(drift_file(arm))} for arm in DRIFT_ARMS]
        + [{"arm": "all", "table": t, "path": str(path)} for t, path in arm_free.items()]
    )


# Every table a preregistered claim may name.
CLAIM_TABLES = results_tables(
    ["ev", "decoder_cosine", "firing", "haar_rotations"],
    {"haar_power": haar_file("all", "power"), "decoy": decoy_table_file()},
)
STEERING_CLAIM_TABLES = [
    {"arm": arm, "table": f"steering_{t}", "path": str(steering_file(arm, "tables", t))}
    for arm in STEERING_COHORTS
    for t in STEERING_TABLES
]


# Every table the claims ledger reads, only what this run makes: ours, and the paper
# comparison's (the study's computations beside ours).
LEDGER_TABLES = (
    results_tables(
        [
            "ev",
            "ev_study_recipe",
            "decoder_cosine",
            "decoder_cosine_study_recipe",
            "decoder_cosine_all_pairs_study_recipe",
            "firing",
            "firing_study_recipe",
            "haar_rotations",
            "haar_pooled",
        ],
        {"haar_power": haar_file("all", "power")},
    )
    + [{"arm": arm, "table": "drift_paper_direction", "path": str(drift_file(arm, "paper_direction"))} for arm in DRIFT_ARMS]
    + [t for t in STEERING_CLAIM_TABLES if t["table"] in ("steering_transfer", "steering_dose")]
    + [
        {"arm": "toy", "table": f"steering_study_{t}", "path": str(steering_file("toy", "tables", f"study_{t}"))}
        for t in ("ratios", "doses")
    ]
)
# what the ledger says of this run's scale
LEDGER_SCALE = (
    f"toy {CFG.train.steps} steps x {CFG.train.batch_size}, cohorts "
    + ", ".join(f"{n} {len(c.models)} models" for n, c in CFG.cohorts.items())
    + (f"; GPT-NeoX {NEOX.source} {len(NEOX.models)} models" if NEOX is not None else "; no GPT-NeoX arm")
)


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
        benchmark_file("extract_toy", m, c) for m in CFG.models for c in [CFG.audit.checkpoint] + drift_checkpoints("toy", m)
    ]
    for arm, spec in ARMS.items():
        files += [
            benchmark_file(f"train_saes_{arm}", s, f"x{e}") for s in spec["sites"] for e in spec["sae"]["expansions"]
        ]
    if NEOX is not None:
        files += [benchmark_file("extract_neox", m, r) for m in NEOX.models for r in neox_revisions(m)]
        if NEOX.source == "family":
            files += [benchmark_file("train_neox", m) for m in NEOX.models]
    return files
