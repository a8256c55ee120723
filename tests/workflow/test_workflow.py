"""Integration: the Snakemake DAG on config/test.yaml in a temporary copy of the repo."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from _workflow import SNAKEMAKE, copy_workflow, snakemake

from polyrot import config

pytestmark = pytest.mark.integration


def test_dag_writes_every_output(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    models = [f"{c}{s}" for c, v in cfg["cohorts"].items() for s in v["seeds"]]
    for m in models:
        for which in ("best", "final"):
            meta = json.loads((res / f"toy/models/{m}/{which}/meta.json").read_text())
            assert meta["selected_as"] == which and len(meta["config_hash"]) == 64
            assert "acc_long_depth" in meta["metrics"]
    acc = pd.read_csv(res / "toy/eval/accuracy.tsv", sep="\t", comment="#")
    assert len(acc) == len(models) * 2 * 3 * 3 and acc["accuracy"].between(0, 1).all()
    for ext in ("png", "pdf"):
        assert (res / f"figures/training_curves.{ext}").stat().st_size > 10_000


def test_bar_b_verdict(run, repo):
    record = json.loads((run / "results/bars/B.json").read_text())
    assert record["verdict"] in ("PASS", "FAIL") and record["threshold"] == 1e-4
    kinds = sorted(u["unit"] for u in record["units"])
    assert kinds == ["cross:A1|A0", "cross:B101|B100", "within:A0", "within:A1", "within:B100", "within:B101"]
    assert all(u["ci95"][0] <= u["value"] <= u["ci95"][1] for u in record["units"])
    # the study code's statistic beside every unit, never judged
    assert all(u["study_code"]["n_sequences"] == 128 and u["study_code"]["value"] > 0 for u in record["units"])
    assert record["study_code"]["mixture"] == {"training_2_48": 0.6, "compositional": 0.2, "long": 0.2}
    sha = __import__("hashlib").sha256((repo / "preregistration.md").read_bytes()).hexdigest()
    assert record["preregistration"]["sha256"] == sha and record["n_samples"] == 128
    # the decoy's units are judged beside the bar, never in it
    assert sorted(u["unit"] for u in record["decoy"]["units"]) == ["cross:A0-decoy|A0", "within:A0-decoy"]
    assert record["decoy"]["of"] == "A0" and record["n_units"] == 6
    summary = pd.read_csv(run / "results/bars/summary.tsv", sep="\t", comment="#")
    assert summary["claim"].tolist() == ["bar_B", "bar_P", "bar_C", "bar_Pr"]


def test_bars_p_c_pr_verdicts(run):
    bars = {b: json.loads((run / f"results/bars/{b}.json").read_text()) for b in ("P", "C", "Pr")}
    units = ["within:A0", "within:A1", "cross:A1|A0", "within:B100", "within:B101", "cross:B101|B100"]
    for bar, record in bars.items():
        assert [u["unit"] for u in record["units"]] == units, bar
        assert [u["unit"] for u in record["decoy"]["units"]] == ["within:A0-decoy", "cross:A0-decoy|A0"]
        assert record["verdict"] in ("PASS", "FAIL") and len(record["preregistration"]["amendments"]) >= 5
    p = {u["unit"]: u for u in bars["P"]["units"] + bars["P"]["decoy"]["units"]}
    # within-seed, a model aligned to itself: zero to float precision
    assert all(u["value"] < 1e-20 for k, u in p.items() if k.startswith("within"))
    assert all(
        len(u["tensors"]) == 16 and sorted(map(sorted, u["head_perm"])) == [[0, 1, 2, 3]] * 2 for u in p.values()
    )
    # the decoy differs from its model in W_U_depth alone
    assert p["cross:A0-decoy|A0"]["worst_tensor"] == "W_U_depth"
    # the study's own search beside every unit: baseline, with the rotation step as fitted, and
    # the refinement for cross-seed units; a model against itself is exactly zero
    for k, u in p.items():
        study = u["study_search"]
        assert study["starts"] == 2 and study["rounds"] == 2 and len(study["baseline"]["head_perm"]) == 2
        assert "baseline_rotation_as_fitted" in study and ("refined" in study) == k.startswith("cross")
        assert (
            study["baseline"]["worst_tensor"] in {*study["baseline"]["tensors"]}
            and "pos" in study["baseline"]["tensors"]
        )
        if k.startswith("within"):
            assert study["baseline"]["max_tensor_mse"] == 0.0
    for bar in ("C", "Pr"):
        units = {u["unit"]: u for u in bars[bar]["units"]}
        # within-seed, IG predicts the ablation by completeness
        assert all(u["value"] > 0.99 for k, u in units.items() if k.startswith("within")), bar
        assert units["cross:A1|A0"]["head_perm"] == p["cross:A1|A0"]["head_perm"]
        assert all(len(u["components"]) == 10 and "r_attribution_patching" in u for u in units.values())
        # beside the registered r: the study's clean-point AP, its convention, other head matchings
        cross = units["cross:A1|A0"]
        assert cross["r_by_head_matching"]["bar_P"] == cross["value"]
        assert set(cross["r_by_head_matching"]) == {"bar_P", "study_search", "identity"}
        assert cross["study_convention"]["head_perm"] == p["cross:A1|A0"]["study_search"]["baseline"]["head_perm"]
        assert all("r_attribution_patching_clean" in u and "study_convention" in u for u in units.values())
    assert bars["C"]["units"][0]["study_convention"] == bars["Pr"]["units"][0]["study_convention"]
    decoy = pd.read_csv(run / "results/bars/decoy.tsv", sep="\t", comment="#")
    assert decoy["bar"].tolist() == ["B", "P", "C", "Pr", "any"]
    assert decoy["separates"].iloc[-1] == decoy["separates"].iloc[:-1].max()
    claim = json.loads((run / "results/claims/decoy_fails_a_bar.json").read_text())
    assert claim["hypothesis"] == "H6" and claim["units"][0]["value"] == decoy["separates"].iloc[-1]
    for ext in ("png", "pdf"):
        assert (run / f"results/figures/figure4.{ext}").stat().st_size > 10_000


def test_cohort_a_io_is_frozen_to_the_anchor(run):
    from safetensors.torch import load_file

    anchor = load_file(str(run / "results/toy/models/A0/best/model.safetensors"))
    other = load_file(str(run / "results/toy/models/A1/final/model.safetensors"))
    indep = load_file(str(run / "results/toy/models/B101/final/model.safetensors"))
    for k in ("W_E", "W_U_tok", "W_U_depth", "W_U_valid"):
        assert (anchor[k] == other[k]).all() and not (anchor[k] == indep[k]).all()


def test_strict_gate_fails_and_keeps_the_verdict(run):
    # the tiny test models fail Bar B by orders of magnitude
    proc = snakemake(
        run, "bar_B", "--cores", "1", "--configfile", "config/test.yaml", "--config", "strict_bars=true", check=False
    )
    assert proc.returncode != 0 and "strict_bars=true" in proc.stdout + proc.stderr
    assert (run / "results/bars/B.json").exists()
    assert snakemake(run, "bar_B", "--cores", "1", "--configfile", "config/test.yaml").returncode == 0
    # the `bars` gate judges all four and fails on any FAIL
    proc = snakemake(
        run, "bars", "--cores", "1", "--configfile", "config/test.yaml", "--config", "strict_bars=true", check=False
    )
    assert proc.returncode != 0 and "failing bar_B" in proc.stdout + proc.stderr
    # the verdicts stay; the failed gate's summary is written again by a run that is not strict
    assert all((run / f"results/bars/{b}.json").exists() for b in ("B", "P", "C", "Pr"))
    assert snakemake(run, "bars", "--cores", "1", "--configfile", "config/test.yaml").returncode == 0


def test_nothing_left_to_do(run):
    proc = snakemake(run, "-n", "--cores", "1", "--configfile", "config/test.yaml")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_silent_prereg_edit_is_refused(run):
    doc = run / "preregistration.md"
    original = doc.read_text()
    try:
        doc.write_text(original.replace("threshold: 1.0e-4", "threshold: 1.0", 1))
        proc = snakemake(run, "-n", "--cores", "1", "--configfile", "config/test.yaml", check=False)
        assert proc.returncode != 0 and "edited after registration" in proc.stdout + proc.stderr
    finally:
        doc.write_text(original)


def test_bad_config_is_refused_naming_the_key(run):
    bad = config.load_file(run / "config/test.yaml").raw
    bad["train"]["batch_size"] = "big"
    (run / "bad.yaml").write_text(yaml.safe_dump(bad))
    proc = snakemake(run, "-n", "--cores", "1", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0 and "config key 'train.batch_size'" in proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["kill the job", "interrupt snakemake"])
def test_killed_training_job_resumes_under_snakemake(tmp_path, repo, how):
    """SIGKILL of the training process (an OOM kill, a node failure), or Ctrl-C of
    Snakemake: running `snakemake` again resumes from the last complete checkpoint."""
    import psutil

    work = copy_workflow(repo, tmp_path)
    cfg = config.load_file(work / "config/test.yaml").raw
    # long enough (~15 s of training) that the interruption always lands mid-run
    cfg["train"].update(steps=1500, checkpoint_every=20)
    (work / "long.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/toy/models/B100/final/model.safetensors"
    cmd = [*SNAKEMAKE, target, "--cores", "1", "--configfile", "long.yaml"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(
        cmd,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        # a shell's background job starts with SIGINT ignored, and Python keeps it ignored:
        # restore the default so that Ctrl-C behaves as at a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ckpt = work / "results/toy/models/B100/step000040"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.02)
    if how == "kill the job":
        jobs = [p for p in psutil.Process(proc.pid).children(recursive=True) if "train_toy" in " ".join(p.cmdline())]
        assert jobs, "no training process found"
        for p in jobs:
            p.send_signal(signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    assert proc.wait(timeout=60) != 0
    assert ckpt.exists() and not (work / target).exists()
    out = snakemake(work, target, "--cores", "1", "--configfile", "long.yaml")
    assert "resumed" in out.stdout + out.stderr
    meta = json.loads((work / "results/toy/models/B100/final/meta.json").read_text())
    assert meta["step"] == 1500


def test_audit_outputs(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    sites = cfg["audit"]["toy"]["sites"]
    ev = pd.read_csv(res / "toy/audit/ev.tsv", sep="\t", comment="#")
    assert len(ev) == 2 * len(sites)  # one pair per cohort in the test config, one expansion
    for col in (
        "self_ev_centred",
        "naive_ev_scalar",
        "rotated_insample_ev_centred",
        "null_moments_ev_centred",
        "null_permuted_ev_centred",
        "null_site_ev_centred",
        "gaussian_ev_scalar",
        "act_rotated_ev_centred",
    ):
        assert ev[col].notna().all(), col
    # the rotation maps b onto a at least as well in-sample as on held-out tokens, on average
    assert (ev["act_rotated_insample_ev_centred"] - ev["act_rotated_ev_centred"]).mean() > -0.05
    cos = pd.read_csv(res / "toy/audit/decoder_cosine.tsv", sep="\t", comment="#")
    assert set(cos["frame"]) == {"raw", "rotated", "raw_span", "rotated_span", "chance_span"}
    assert cos[["maxcos_frac", "hungarian_frac"]].stack().between(0, 1).all()
    assert set(cos["sae_init"]) == {"independent"}
    # the paper comparison's tables: SAEs with the study's recipe, one seed for every model. After
    # 20 steps most decoder rows are still at their initial values, identical across models under
    # one seed, so raw cosine is inflated
    study = pd.read_csv(res / "toy/audit/decoder_cosine_study_recipe.tsv", sep="\t", comment="#")
    assert set(study["sae_init"]) == {"study recipe"} and len(study) == len(cos)
    raw = {name: t[t["frame"] == "raw"]["maxcos_frac"].mean() for name, t in (("ours", cos), ("study", study))}
    assert raw["study"] > raw["ours"] + 0.3, raw
    assert {"act_bothcentred_naive_ev_centred", "act_bothcentred_rotated_ev_scalar", "self_insample_ev_scalar"} <= set(
        ev.columns
    )
    for table in ("ev", "firing"):
        ours = pd.read_csv(res / f"toy/audit/{table}.tsv", sep="\t", comment="#")
        theirs = pd.read_csv(res / f"toy/audit/{table}_study_recipe.tsv", sep="\t", comment="#")
        assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs), table
    all_pairs = pd.read_csv(res / "toy/audit/decoder_cosine_all_pairs_study_recipe.tsv", sep="\t", comment="#")
    assert len(all_pairs) == 2 * len(sites) and "hungarian_frac" not in all_pairs  # one pair per cohort
    saes = pd.read_csv(res / "toy/audit/saes.tsv", sep="\t", comment="#")
    assert saes.groupby("recipe").size().to_dict() == {"ours": 4 * len(sites), "study": 4 * len(sites)}
    meta = json.loads((res / "toy/rotations/A0__A1" / f"{sites[1]}.json").read_text())
    R = np.load(res / "toy/rotations/A0__A1" / f"{sites[1]}.npy")
    assert abs(abs(meta["det"]) - 1) < 1e-9 and R.shape == (meta["d"], meta["d"])
    assert abs(meta["frobenius_to_identity"] - float(np.linalg.norm(R - np.eye(64)))) < 1e-9
    claims = pd.read_csv(res / "claims/summary.tsv", sep="\t", comment="#")
    assert len(claims) == 22 and set(claims["verdict"]) <= {"PASS", "FAIL"}  # 7 of them steering
    record = json.loads((res / "claims/audit_naive_ev_negative.json").read_text())
    neox_sites = cfg["audit"]["neox"]["sites"]
    # internal sites only (the residual sites but the embedding): two toy pairs and one GPT-NeoX pair
    assert neox_sites[-1] == "resid_final"
    assert record["n_units"] == 2 * (len(sites) - 1) + (len(neox_sites) - 2)
    assert {u["arm"] for u in record["units"]} == {"toy", "neox"}
    assert record["preregistration"]["amendments"][0]["date"] == "2026-11-26"
    assert any("sae_loss" in a["changes"] for a in record["preregistration"]["amendments"])
    for name in ("figure1", "decoder_cosine"):
        assert (res / f"figures/{name}.png").stat().st_size > 10_000


def test_haar_outputs(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    power = pd.read_csv(res / "haar/power.tsv", sep="\t", comment="#")
    assert set(power["test"]) == {"ks_exact", "frobenius_z", "ks_pooled_paper"}
    assert len(power) == 3 * 6 * len(cfg["haar"]["power"]) and power["rejection_rate"].between(0, 1).all()
    rot = pd.read_csv(res / "toy/haar/rotations.tsv", sep="\t", comment="#")
    assert len(rot) == 2 * len(cfg["audit"]["toy"]["sites"])
    assert (rot["d"] == 64).all() and rot["det"].isin([1, -1]).all() and rot["ks_p"].between(0, 1).all()
    readings = ("not determined by data", "rejects Haar", "consistent with Haar")
    assert rot["haar_reading"].map(lambda r: r.startswith(readings)).all()
    low = rot["determined_fraction"] < cfg["haar"]["min_determined_fraction"]
    assert rot.loc[low, "haar_reading"].str.startswith("not determined").all()
    pooled = pd.read_csv(res / "toy/haar/pooled_paper_test.tsv", sep="\t", comment="#")
    assert pooled["n_angles"].iloc[0] == 64 * len(rot)
    record = json.loads((res / "claims/haar_test_has_power.json").read_text())
    assert record["n_units"] == len(cfg["haar"]["power"])
    assert (res / "figures/figure2.png").stat().st_size > 10_000


def test_neox_arm_runs_the_audit_on_the_offline_family(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    neox, sites = cfg["neox"], cfg["audit"]["neox"]["sites"]
    for model in neox["models"]:
        for step in neox["family"]["save_steps"]:
            folder = res / f"neox/models/{model}/step{step}"
            assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
        log = pd.read_csv(res / f"neox/models/{model}/train_log.tsv", sep="\t", comment="#")
        assert log["step"].tolist() == neox["family"]["save_steps"] and np.isfinite(log["heldout_loss"]).all()
    analysis = np.load(res / "neox/corpus/analysis.npz")
    c = neox["corpus"]
    assert analysis["fit"].shape == (c["fit_sequences"], c["seq_len"])
    assert analysis["heldout"].shape == (c["heldout_sequences"], c["seq_len"])
    meta = json.loads((res / "neox/corpus/analysis.json").read_text())
    assert set(meta["fit"]["documents"]).isdisjoint(meta["heldout"]["documents"])
    train_docs = {json.loads(line)["name"] for line in (res / "neox/corpus/python_docs.train.jsonl").open()}
    assert train_docs.isdisjoint(meta["fit"]["documents"] + meta["heldout"]["documents"])
    acts = np.load(res / f"neox/acts/{neox['anchor']}/{neox['revision']}/{sites[-1]}.fit.npz")
    assert acts["acts"].shape == (c["fit_sequences"] * c["seq_len"], neox["family"]["hidden_size"])
    ev = pd.read_csv(res / "neox/audit/ev.tsv", sep="\t", comment="#")
    assert len(ev) == (len(neox["models"]) - 1) * len(sites) and set(ev["cohort"]) == {"neox"}
    assert ev[["self_ev_centred", "rotated_ev_centred", "null_permuted_ev_centred"]].notna().all().all()
    rot = pd.read_csv(res / "neox/haar/rotations.tsv", sep="\t", comment="#")
    assert len(rot) == len(ev) and (rot["d"] == neox["family"]["hidden_size"]).all()
    figure = pd.read_csv(res / "neox/audit/firing.tsv", sep="\t", comment="#")
    assert set(figure["frame"]) == {"raw", "rotated", "rotated_insample_uncentred"}


def test_checkpoint_drift_on_both_arms(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    for arm in ("toy", "neox"):
        spec = cfg["audit"][arm]
        drift = pd.read_csv(res / f"{arm}/drift/drift.tsv", sep="\t", comment="#")
        assert len(drift) == len(spec["drift"]["checkpoints"]) * len(spec["sites"]) * len(spec["sae"]["expansions"])
        assert (
            set(drift["checkpoint"]) == set(spec["drift"]["checkpoints"])
            and (drift["model"] == spec["drift"]["model"]).all()
        )
        assert (drift.loc[drift["checkpoint"] == spec["drift"]["early"], "role"] == "early").all()
        # the paper's direction: the early checkpoint's SAE on the audited checkpoint
        paper = pd.read_csv(res / f"{arm}/drift/paper_direction.tsv", sep="\t", comment="#")
        assert len(paper) == len(spec["sites"]) * len(spec["sae"]["expansions"])
        assert (paper["reference"] == spec["drift"]["early"]).all() and (
            paper["sae_l1"] == spec["drift"]["early_sae_l1"]
        ).all()
        assert (
            drift[["self_ev_centred", "naive_ev_centred", "rotated_ev_centred", "frobenius_to_identity"]]
            .notna()
            .all()
            .all()
        )
    record = json.loads((res / "claims/drift_rotated_near_self.json").read_text())
    assert {u["arm"] for u in record["units"]} == {"toy", "neox"}
    assert (res / "figures/drift.png").stat().st_size > 10_000


def test_steering_tables_claims_gate_and_figure(run):
    res = run / "results"
    cfg = config.load_file(run / "config/test.yaml").raw
    alphas, draws = cfg["steering"]["alphas"], cfg["steering"]["random_draws"]
    # 2 models per cohort (arm), 3 vectors: within + unrotated + rotated, then random on both models
    per_cohort = len(alphas) * (3 * (1 + 2) + 2 * 3)
    for arm, cohort in (("toy", "A"), ("toy", "B"), ("neox", "neox")):
        effects = pd.read_csv(res / f"{arm}/steering/effects/{cohort}.tsv", sep="\t", comment="#")
        assert len(effects) == per_cohort, (arm, cohort)
        assert (effects.loc[effects["condition"] == "random", "n_draws"] == draws).all()
        assert (effects["kl"] > 0).all() and effects["kl"].notna().all()
        meta = json.loads((res / f"{arm}/steering/vectors/{cohort}.json").read_text())
        fractions = [v["pinned_fraction"] for v in meta["vectors"].values()]
        if cohort == "A":  # shared frozen I/O: 27 pinned directions of 64
            assert meta["pinned_dim"] == 27 and all(0 < f <= 1 for f in fractions)
        else:
            assert meta["pinned_dim"] == 0 and fractions == [0.0, 0.0, 0.0]
        transfer = pd.read_csv(res / f"{arm}/steering/transfer.tsv", sep="\t", comment="#")
        row = transfer[(transfer["cohort"].astype(str) == cohort)].iloc[0]
        within = effects[(effects["condition"] == "within") & (effects["vector"] == row["vector"])]
        within_kl = float(within.set_index("alpha").loc[row["alpha"], "kl"])
        assert row["ratio_rotated_kl"] == pytest.approx(row["rotated_kl"] / within_kl, rel=1e-9)
    assert {"dose_factor_unrotated", "level"} <= set(pd.read_csv(res / "toy/steering/dose.tsv", sep="\t", comment="#"))
    # the paper comparison: the fine grid, held-out (within, unrotated, rotated) and the study's
    # same-batch setup (within, unrotated), both targets in every row
    fine = cfg["steering"]["toy"]["study_alphas"]
    for cohort in ("A", "B"):
        study = pd.read_csv(res / f"toy/steering/study/{cohort}.tsv", sep="\t", comment="#")
        assert study.groupby("setup").size().to_dict() == {"heldout": 3 * 3 * len(fine), "study": 3 * 2 * len(fine)}
        # NaN only where 16 held-out sequences hold no target position of a vector
        assert study["accuracy_drop_study_target"].notna().any() and "n_study_target" in study
    ratios = pd.read_csv(res / "toy/steering/study_ratios.tsv", sep="\t", comment="#")
    assert set(ratios["target"]) == {"ours", "study", "kl"} and ratios["undefined"].isin([True, False]).all()
    assert {"dose_factor_unrotated", "dose_factor_unrotated_log_se"} <= set(
        pd.read_csv(res / "toy/steering/study_doses.tsv", sep="\t", comment="#")
    )
    summary = pd.read_csv(res / "steering/summary.tsv", sep="\t", comment="#")
    assert len(summary) == 7 and set(summary["verdict"]) <= {"PASS", "FAIL"} and (summary["n_units"] > 0).all()
    everything = pd.read_csv(res / "claims/summary.tsv", sep="\t", comment="#")
    assert set(summary["claim"]) <= set(everything["claim"])
    rotated = json.loads((res / "claims/steering_rotated_restores.json").read_text())
    # both arms, every vector and pair at alpha 2
    assert {u["arm"] for u in rotated["units"]} == {"toy", "neox"} and rotated["n_units"] == 9
    assert len({u["unit"] for u in rotated["units"]}) == 9  # named by cohort, pair, vector and dose
    for name in ("figure3", "figure3_accuracy"):
        assert (res / f"figures/{name}.png").stat().st_size > 10_000
    # the gate: strict exits non-zero exactly when a steering claim failed
    proc = snakemake(
        run, "steering", "--cores", "1", "--configfile", "config/test.yaml", "--config", "strict_bars=true", check=False
    )
    assert (proc.returncode != 0) == (summary["verdict"] == "FAIL").any()
    assert snakemake(run, "steering", "--cores", "1", "--configfile", "config/test.yaml").returncode == 0


def test_claims_ledger_and_fragility(run):
    from polyrot import ledger

    frame = pd.read_csv(run / "results/ledger.tsv", sep="\t", comment="#").set_index("id")
    assert frame.index.tolist() == [v.id for v in ledger.load_paper_values()]
    assert set(frame["verdict"]) <= set(ledger.VERDICTS)
    # the test DAG's GPT-NeoX arm is the offline family: no Pythia number is judged on it
    pythia = frame[frame.index.str.startswith("pythia")]
    assert set(pythia["verdict"]) <= {ledger.NOT_OFFLINE, ledger.NOT_AT_SCALE, ledger.NOT_COMPUTED}
    assert (pythia["verdict"] == ledger.NOT_OFFLINE).sum() >= 10
    # no x8 or x32 SAE at this scale, and cohort A has no seeds 2, 3 and 4
    assert frame.loc["toy_A_naive_ev_resid_mid_0_x32", "verdict"] == ledger.NOT_AT_SCALE
    assert frame.loc["bar_B_cross_A", "reason"].endswith("not computed at this scale: A2, A3, A4")
    toy = frame[~frame.index.str.startswith("pythia")]
    judged = toy[toy["verdict"].isin([ledger.REPRODUCED, ledger.DIFFERS])]
    assert len(judged) >= 20 and judged["band"].notna().all() and (judged["n_units"] >= 1).all()
    assert frame.loc["bar_B_cross_A", "ours"].startswith("A1 ")
    # every row cites the paper's text and names its subset, aggregation and direction
    assert frame["where"].str.contains(r"main\.tex L\d+").all()
    computed = frame[frame["convention"].notna()]
    assert (
        computed["convention"].str.contains("Subset:").all()
        and computed["convention"].str.contains("Aggregation:").all()
    )
    by_construction = frame[frame["verdict"] == ledger.BY_CONSTRUCTION].index
    assert {"bar_P_seed0", "bar_C_seed0", "bar_Pr_seed0"} <= set(by_construction)
    html = (run / "results/ledger.html").read_text()
    assert html.count("<tr class=") == len(frame)
    # every bar and claim verdict says how fragile it is
    for kind in ("bars", "claims"):
        summary = pd.read_csv(run / f"results/{kind}/summary.tsv", sep="\t", comment="#")
        assert summary["fragile"].isin([True, False]).all() and (summary["n_fragile"] <= summary["n_units"]).all()
    record = json.loads((run / "results/claims/audit_naive_ev_negative.json").read_text())
    assert all("margin" in u and "fragile" in u for u in record["units"])
