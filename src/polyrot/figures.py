"""Figures: one function per figure, data in, matplotlib figure out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from polyrot import atomic  # noqa: E402
from polyrot.verdicts import Verdict  # noqa: E402


def training_curves(logs: Mapping[str, pd.DataFrame], cohorts: Mapping[str, list[str]]) -> Figure:
    """Per cohort (rows): training loss, and min held-out accuracy / depth accuracy per seed."""
    fig, axes = plt.subplots(len(cohorts), 2, figsize=(12, 3.4 * len(cohorts)), squeeze=False, layout="constrained")
    for row, (cohort, models) in zip(axes, cohorts.items(), strict=True):
        for model in models:
            df = logs[model]
            row[0].plot(df["step"], df["train_loss"], label=model, lw=1)
            ev = df.dropna(subset=["min_heldout_acc"])
            (line,) = row[1].plot(ev["step"], 1 - ev["min_heldout_acc"], label=f"{model} min held-out", lw=1.2)
            row[1].plot(
                ev["step"],
                1 - ev["acc_analysis_depth"],
                ls="--",
                color=line.get_color(),
                lw=1,
                label=f"{model} analysis depth",
            )
        row[0].set(
            title=f"cohort {cohort}: training loss",
            xlabel="training step",
            ylabel="sum of 3 CE (nats)",
            yscale="log",
        )
        row[1].set(
            title=f"cohort {cohort}: error rate (held-out)",
            xlabel="training step",
            ylabel="1 − accuracy (fraction)",
            yscale="log",
        )
        row[1].axhline(0.02, color="grey", lw=0.8, ls=":", label="2% (audit needs ≥98%)")
        for ax in row:
            ax.grid(alpha=0.3)
        # one legend per row, right of its panels (colours are the same models in both)
        row[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


def save(fig: Figure, *paths: str | Path) -> None:
    """Save ``fig`` to each path atomically (format from the suffix) and close it."""
    for p in paths:
        p = Path(p)
        with atomic.atomic_path(p) as tmp:
            fig.savefig(tmp, format=p.suffix.lstrip("."), dpi=150)
    plt.close(fig)


def _panel(arm: str, cohort: str) -> str:
    """A panel's name: the GPT-NeoX arm is one cohort named after it."""
    return arm if cohort == arm else f"{arm} cohort {cohort}"


EV_SERIES = (
    ("self", "self (SAE_a on a)", "k", "-"),
    ("rotated", "rotated (b mapped by R)", "tab:green", "-"),
    ("naive", "naive (SAE_a on b)", "tab:red", "-"),
    ("null_permuted", "null: rows permuted", "tab:purple", "--"),
    ("null_moments", "null: moments only", "tab:orange", "--"),
    ("null_site", "null: other site", "tab:brown", "--"),
    ("gaussian", "Gaussian baseline", "tab:gray", ":"),
)


EV_LINTHRESH = 1.0
"""EV axes are linear on [−1, 1] and logarithmic below −1 (symmetric log): a naive EV of −100
is drawn, not clipped, and the interesting range near 1 keeps its resolution."""


def _ev_axis(ax, values, convention: str) -> None:
    """A symmetric-log EV axis from below the smallest value (or −1) to 1.05."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    low = min(float(finite.min()) if finite.size else -1.0, -1.0)
    ax.set_yscale("symlog", linthresh=EV_LINTHRESH, linscale=2.0)
    ax.set_ylim(low * 1.3 if low < -EV_LINTHRESH else -1.05, 1.05)
    below = [t for t in (-1000, -500, -100, -50, -10, -5) if t >= low * 1.3]
    if len(below) > 3:  # a wide range: decades only
        below = [t for t in below if t in (-1000, -100, -10)]
    ticks = [*below, -1, -0.5, 0, 0.5, 1]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_ylabel(f"EV, {convention} (held-out; log scale below −1)")


def _legend_below(fig: Figure, axes, ncol: int = 4) -> None:
    """One legend for all panels, below them, outside every axis (unique labels)."""
    handles: dict = {}
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def figure1(ev: pd.DataFrame, convention: str = "centred") -> Figure:
    """Paper Figure 1 on held-out tokens: self / naive / rotated EV per site, with the nulls.

    One panel per (arm, cohort, expansion); lines are the mean over pairs, bands min–max. The
    EV axis is symmetric-log below −1 (``_ev_axis``), so no value is clipped.
    """
    groups = (
        list(ev.groupby(["arm", "cohort", "expansion"], sort=True))
        if "arm" in ev
        else list(ev.assign(arm="toy").groupby(["arm", "cohort", "expansion"], sort=True))
    )
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 5.0), squeeze=False, layout="constrained")
    for ax, ((arm, cohort, expansion), frame) in zip(axes[0], groups, strict=True):
        sites = list(dict.fromkeys(frame["site"]))
        x = range(len(sites))
        lows = []
        for key, label, color, ls in EV_SERIES:
            col = f"{key}_ev_{convention}"
            stats = frame.groupby("site", sort=False)[col].agg(["mean", "min", "max"]).reindex(sites)
            ax.plot(x, stats["mean"], color=color, ls=ls, marker="o", ms=3, label=label)
            ax.fill_between(x, stats["min"], stats["max"], color=color, alpha=0.12)
            lows.append(stats["min"].min())
        ax.axhline(0, color="grey", lw=0.8)
        ax.axhline(-EV_LINTHRESH, color="grey", lw=0.6, ls=(0, (1, 3)))
        ax.set_xticks(list(x), sites, rotation=45, ha="right", fontsize=8)
        _ev_axis(ax, lows, convention)
        ax.set(xlabel="site", title=f"{_panel(arm, cohort)}, SAE x{expansion}")
        ax.grid(alpha=0.3)
    _legend_below(fig, axes)
    return fig


COSINE_FRAMES = {
    "raw": "raw: b's decoder as trained",
    "rotated": "rotated: b's decoder mapped by R",
    "raw_span": "raw, within the span both SAEs use",
    "rotated_span": "rotated, within that span",
    "chance_span": "chance level within that span",
}


def decoder_cosine_figure(cos: pd.DataFrame, study: pd.DataFrame | None = None) -> Figure:
    """Decoder-cosine universality per site: fraction of features matched above 0.5 by
    max-cosine (top row) and Hungarian matching (bottom row), in each frame; with ``study``
    (the same table for SAEs trained with the study's recipe) its raw and span-projected
    rows in red beside ours."""
    groups = list(cos.groupby(["arm", "cohort"], sort=True))
    fig, axes = plt.subplots(2, len(groups), figsize=(5.2 * len(groups), 7.6), squeeze=False, layout="constrained")
    frames = (
        ("raw", "tab:blue", "-"),
        ("rotated", "tab:green", "-"),
        ("raw_span", "tab:blue", "--"),
        ("rotated_span", "tab:green", "--"),
        ("chance_span", "tab:gray", ":"),
    )
    for col, ((arm, cohort), frame) in enumerate(groups):
        sites = list(dict.fromkeys(frame["site"]))
        for row, metric in enumerate(("maxcos_frac", "hungarian_frac")):
            ax = axes[row][col]
            for name, color, ls in frames:
                sub = frame[frame["frame"] == name].groupby("site", sort=False)[metric].mean().reindex(sites)
                ax.plot(range(len(sites)), sub.values, color=color, ls=ls, marker="o", ms=3, label=COSINE_FRAMES[name])
            if study is not None:
                mine = study[(study["arm"] == arm) & (study["cohort"] == cohort)]
                for name, ls in (("raw", "-"), ("raw_span", "--")):
                    sub = mine[mine["frame"] == name].groupby("site", sort=False)[metric].mean().reindex(sites)
                    label = f"{name}, the study's SAE recipe"
                    ax.plot(range(len(sites)), sub.values, color="tab:red", ls=ls, marker="s", ms=3, label=label)
            ax.set_xticks(range(len(sites)), sites, rotation=45, ha="right", fontsize=8)
            how = "max-cosine" if metric == "maxcos_frac" else "Hungarian"
            ax.set(
                ylim=(-0.02, 1.02),
                ylabel=f"fraction matched, {how} (cos > 0.5)",
                title=f"{_panel(arm, cohort)}: {how} matching",
            )
            ax.grid(alpha=0.3)
    _legend_below(fig, axes)
    return fig


def figure2(
    frobenius: dict[int, list[float]],
    angles: dict[tuple[int, int], np.ndarray],
    null: dict[tuple[int, int], tuple[float, float]],
    power: pd.DataFrame,
    alternative_angles: dict[str, np.ndarray],
    alt_d: int,
) -> Figure:
    """Paper Figure 2 with its missing controls.

    Top: ‖R − I‖_F of the fitted rotations against the Haar null (mean ± 2 sd) and √(2d);
    their free eigen-angles against the exact Haar density; the size/power table. Bottom:
    the free angles of each alternative at ``alt_d`` against the Haar law.
    """
    from polyrot import haar

    fig = plt.figure(figsize=(15, 10), layout="constrained")
    outer = fig.add_gridspec(2, 1, height_ratios=(1.55, 1.0))
    top = outer[0].subgridspec(1, 3, width_ratios=(1.0, 1.0, 1.25))
    bottom = outer[1].subgridspec(1, max(len(alternative_angles), 1))
    ax = fig.add_subplot(top[0, 0])
    for d, values in frobenius.items():
        ax.hist(values, bins=20, alpha=0.6, label=f"fitted R, d={d}")
        ax.axvline(np.sqrt(2 * d), color="k", ls=":", label=f"√(2d) = {np.sqrt(2 * d):.2f}")
        for (dd, det), (mean, sd) in null.items():
            if dd == d:
                ax.axvspan(
                    mean - 2 * sd,
                    mean + 2 * sd,
                    alpha=0.15,
                    color="tab:green" if det == 1 else "tab:orange",
                    label=f"Haar det {det:+d}: mean ± 2 sd",
                )
    ax.set(xlabel="‖R − I‖_F (unitless)", ylabel="fitted rotations (count)", title="Frobenius distance to identity")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    ax = fig.add_subplot(top[0, 1])
    theta = np.linspace(1e-3, np.pi - 1e-3, 400)
    for (d, det), values in angles.items():
        if len(values):
            ax.hist(values, bins=40, range=(0, np.pi), density=True, alpha=0.5, label=f"fitted R, d={d}, det {det:+d}")
            ax.plot(theta, haar.angle_pdf(theta, d, det), lw=1.5, label=f"exact Haar law, d={d}, det {det:+d}")
    ax.set(xlabel="free eigen-angle θ (rad)", ylabel="density (1/rad)", title="eigen-angles of the fitted R")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    ax = fig.add_subplot(top[0, 2])
    pivot = power.pivot_table(index=["d", "alternative"], columns="test", values="rejection_rate", sort=False)
    pivot.plot.barh(ax=ax, width=0.8)
    ax.axvline(float(power["alpha"].iloc[0]), color="k", ls=":", lw=1)
    ax.set(
        xlabel="rejection rate at α (fraction of draws)",
        ylabel="(d, alternative)",
        title="Haar test size (haar_*) and power (others)",
        xlim=(0, 1.02),
    )
    ax.tick_params(axis="y", labelsize=7)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="k", ls=":", lw=1))
    labels.append(f"α = {float(power['alpha'].iloc[0]):g}")
    ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    for i, (name, values) in enumerate(alternative_angles.items()):
        ax = fig.add_subplot(bottom[0, i])
        ax.hist(values, bins=30, range=(0, np.pi), density=True, alpha=0.6, color="tab:gray", label="draws")
        ax.plot(theta, haar.angle_pdf(theta, alt_d, 1), color="tab:green", lw=1.2, label="Haar law")
        ax.set(title=f"alternative {name} (d={alt_d})", xlabel="θ (rad)")
        if i == 0:
            ax.set_ylabel("density (1/rad)")
        ax.tick_params(labelsize=7)
    if alternative_angles:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)
    return fig


def drift_figure(drift: pd.DataFrame, convention: str = "centred") -> Figure:
    """Checkpoint drift per arm (rows): held-out EV of the audited checkpoint's SAE on each
    earlier checkpoint, naive (dashed) and mapped by R (solid), with self EV dotted; and
    ‖R − I‖_F against √(2d). One colour per site; the smallest SAE expansion."""
    arms = list(dict.fromkeys(drift["arm"]))
    fig, axes = plt.subplots(len(arms), 2, figsize=(14, 4.2 * len(arms)), squeeze=False, layout="constrained")
    for (ax_ev, ax_r), arm in zip(axes, arms, strict=True):
        frame = drift[drift["arm"] == arm]
        frame = frame[frame["expansion"] == frame["expansion"].min()]
        model, reference = frame["model"].iloc[0], frame["reference"].iloc[0]
        for i, (site, rows) in enumerate(frame.groupby("site", sort=False)):
            rows = rows.sort_values("step")
            color = plt.cm.viridis(i / max(frame["site"].nunique() - 1, 1))
            ax_ev.plot(
                rows["step"],
                rows[f"rotated_ev_{convention}"],
                color=color,
                marker="o",
                ms=3,
                label=site,
            )
            ax_ev.plot(
                rows["step"],
                rows[f"naive_ev_{convention}"],
                color=color,
                ls="--",
                lw=1,
                label=f"{site} naive",
            )
            ax_ev.axhline(rows[f"self_ev_{convention}"].iloc[0], color=color, ls=":", lw=0.8)
            ax_r.plot(rows["step"], rows["frobenius_to_identity"], color=color, marker="o", ms=3, label=site)
        ax_r.axhline(frame["sqrt_2d"].iloc[0], color="grey", ls="--", lw=1, label="√(2d) (Haar mean)")
        for row in frame[frame["role"] == "early"].head(1).itertuples():
            for ax in (ax_ev, ax_r):
                ax.axvline(row.step, color="tab:red", lw=0.8, alpha=0.5, label="registered early checkpoint")
        values = frame[[f"rotated_ev_{convention}", f"naive_ev_{convention}"]].to_numpy().ravel()
        _ev_axis(ax_ev, values, convention)
        ax_ev.set(
            xscale="log",
            xlabel="training step of the earlier checkpoint",
            title=f"{arm}: {model} checkpoints vs {reference}",
        )
        ax_r.set(
            xscale="log",
            xlabel="training step of the earlier checkpoint",
            ylabel="‖R − I‖_F (unitless)",
            title=f"{arm}: rotation size",
        )
        for ax in (ax_ev, ax_r):
            ax.grid(alpha=0.3)
        ax_ev.plot([], [], color="grey", ls="-", marker="o", ms=3, label="solid: mapped by R")
        ax_ev.plot([], [], color="grey", ls="--", label="dashed: naive")
        ax_ev.plot([], [], color="grey", ls=":", label="dotted: self EV")
        handles, labels = ax_ev.get_legend_handles_labels()
        keep = [(h, lb) for h, lb in zip(handles, labels, strict=True) if not lb.endswith(" naive")]
        ax_ev.legend(
            *zip(*keep, strict=True), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0
        )
        ax_r.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


BAR_STATISTIC = {
    "B": "mean KL(spec ‖ model), nats",
    "P": "max weight MSE after alignment",
    "C": "Pearson r, predicted vs measured patch effects",
    "Pr": "Pearson r, predicted vs measured ablation losses",
}
BAR_FLOOR = 1e-16
"""Where a "<" bar's value is 0 (Bar P within-seed), Figure 4 draws it at this floor."""


def _units_of(record: Verdict) -> list[tuple[str, dict]]:
    """(group, unit) for every unit of a verdict: within, cross, then the decoy's."""
    out = [(kind, u) for kind in ("within", "cross") for u in record.units if u["kind"] == kind]
    return out + [("decoy", u) for u in (record.decoy.units if record.decoy is not None else [])]


def figure4(records: Mapping[str, Verdict], scatter: Mapping[str, str]) -> Figure:
    """Every bar of ``records`` (bar -> verdict, in the run plan's order), one panel each:
    every unit's statistic against its threshold (log axis for "<" bars such as B and P,
    with 95% intervals where they exist; Pearson r for C and Pr, attribution patching as
    hollow markers beside IG), then predicted against measured causal effects (C) for the
    units named in ``scatter`` (title -> unit id of the C verdict)."""
    colours = {"within": "#1f77b4", "cross": "#ff7f0e", "decoy": "#d62728"}
    bars = list(records)
    scatter = scatter if "C" in records else {}
    rows = -(-(len(bars) + len(scatter)) // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(15, 4.75 * rows), layout="constrained", squeeze=False)
    for ax, bar in zip(axes.flat[: len(bars)], bars, strict=True):
        rec = records[bar]
        units = _units_of(rec)
        x = np.arange(len(units))
        log = rec.comparison == "<"
        for i, (group, u) in enumerate(units):
            v = u["value"]
            shown = max(v, BAR_FLOOR) if log else v
            ax.plot(i, shown, "o", color=colours[group], label=group)
            if u.get("ci95") is not None:
                lo, hi = u["ci95"]
                ax.plot([i, i], [max(lo, BAR_FLOOR) if log else lo, hi], "-", color=colours[group], lw=1.5)
            if u.get("r_attribution_patching") is not None:
                ax.plot(i + 0.25, u["r_attribution_patching"], "o", mfc="none", color=colours[group])
        if any(u.get("r_attribution_patching") is not None for _, u in units):
            ax.plot([], [], "o", mfc="none", color="grey", label="attribution patching (not judged)")
        ax.axhline(rec.threshold, ls="--", color="k", lw=1)
        if log:
            ax.set_yscale("log")
        ax.set_xticks(x, [u["unit"].split(":", 1)[1] for _, u in units], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"Bar {bar} ({rec.name}): {rec.verdict}  [{rec.comparison} {rec.threshold:g}]")
        ax.set_ylabel(BAR_STATISTIC.get(bar, "statistic"))
        ax.set_xlabel("unit (model, or model|reference)")
        ax.grid(alpha=0.3)
    axes.flat[0].plot([], [], ls="--", color="k", lw=1, label="registered threshold")
    if "P" in records:
        axes.flat[bars.index("P")].plot([], [], ls="none", label=f"Bar P: a value of 0 is drawn at {BAR_FLOOR:g}")
    handles: dict = {}
    for ax in axes.flat[: len(bars)]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=6, fontsize=8, frameon=False)
    for ax in axes.flat[len(bars) + len(scatter) :]:
        ax.set_visible(False)
    c_units = {u["unit"]: u for _, u in _units_of(records["C"])} if scatter else {}
    for ax, (title, unit_id) in zip(axes.flat[len(bars) :], scatter.items(), strict=False):
        rows = pd.DataFrame(c_units[unit_id]["components"])
        ax.plot(rows["measured_C"], rows["C_ig"], "o", label=f"IG (r = {c_units[unit_id]['value']:.3f})")
        r_ap = c_units[unit_id]["r_attribution_patching"]
        ax.plot(rows["measured_C"], rows["C_ap"], "s", mfc="none", label=f"attribution patching (r = {r_ap:.3f})")
        lim = [0, float(max(rows["measured_C"].max(), rows["C_ig"].max(), rows["C_ap"].max())) * 1.05]
        ax.plot(lim, lim, "k:", lw=1)
        ax.set_xlabel("measured: KL(clean || mean-ablated), nats")
        ax.set_ylabel("predicted by the reference, nats")
        ax.set_title(f"Bar C, {title}: {unit_id}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", frameon=True, framealpha=0.9)
    return fig


STEERING_STYLE = {
    "within": {"color": "k", "marker": "o", "label": "within-seed (anchor)"},
    "unrotated": {"color": "#ff7f0e", "marker": "s", "label": "cross-seed, unrotated (paper)"},
    "rotated": {"color": "#1f77b4", "marker": "^", "label": "cross-seed, through R (ours)"},
    "random": {"color": "grey", "marker": "", "label": "random directions (mean; band: 10th-90th percentile of draws)"},
}
STEERING_EFFECT = {
    "kl": ("KL(unsteered || steered), nats", "ratio_{}_kl"),
    "accuracy_drop": ("targeted accuracy drop", "ratio_{}_acc"),
}


def figure3(effects: pd.DataFrame, transfer: pd.DataFrame, effect: str = "kl", annotate_alpha: float = 2.0) -> Figure:
    """Dose-response of every steering vector: one row per (arm, cohort), one panel per
    vector; within-seed, each other seed unrotated and through R (thin lines per seed, thick
    the mean), the random control; the cross/within ratios at ``annotate_alpha`` written in
    each panel. ``effects`` and ``transfer`` carry an ``arm`` column."""
    label, ratio_column = STEERING_EFFECT[effect]
    effects = effects[effects[effect].notna()] if effect in effects else effects.iloc[:0]
    groups = list(dict.fromkeys(zip(effects["arm"], effects["cohort"].astype(str), strict=True)))
    if not groups:
        raise ValueError(f"no steering effects of kind {effect!r} to draw")
    n_cols = max(
        effects[(effects["arm"] == a) & (effects["cohort"].astype(str) == c)]["vector"].nunique() for a, c in groups
    )
    fig, axes = plt.subplots(len(groups), n_cols, figsize=(5.0 * n_cols, 3.8 * len(groups) + 0.8), squeeze=False)
    for row, (arm, cohort) in enumerate(groups):
        g = effects[(effects["arm"] == arm) & (effects["cohort"].astype(str) == cohort)]
        t = transfer[(transfer["arm"] == arm) & (transfer["cohort"].astype(str) == cohort)]
        vectors = list(dict.fromkeys(g["vector"]))
        for col in range(n_cols):
            ax = axes[row, col]
            if col >= len(vectors):
                ax.set_axis_off()
                continue
            _steering_panel(ax, g[g["vector"] == vectors[col]], effect)
            pinned = t[t["vector"] == vectors[col]]["pinned_fraction"]
            extra = f" (pinned fraction {pinned.iloc[0]:.2f})" if len(pinned) and pinned.iloc[0] > 0 else ""
            name = "GPT-NeoX" if arm == "neox" else f"toy cohort {cohort}"
            ratios = t[(t["vector"] == vectors[col]) & np.isclose(t["alpha"], annotate_alpha)]
            note = ""
            if len(ratios) and ratio_column.format("rotated") in ratios:
                note = "".join(
                    f"\n{c} / within at α = {annotate_alpha:g}: ×{_span(ratios[ratio_column.format(c)])}"
                    for c in ("unrotated", "rotated")
                )
            ax.set_title(f"{name}: {vectors[col]}{extra}{note}", fontsize=9)
            ax.set_xlabel("dose α")
            ax.set_ylabel(label if col == 0 else "")
    handles = [
        plt.Line2D(
            [], [], color=s["color"], marker=s["marker"] or None, ls="--" if c == "random" else "-", label=s["label"]
        )
        for c, s in STEERING_STYLE.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _span(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ({values.min():.2f}–{values.max():.2f})"


def _steering_panel(ax, g: pd.DataFrame, effect: str) -> None:
    log = effect == "kl"

    def shown(v):
        return np.maximum(v, 1e-9) if log else v

    within = g[g["condition"] == "within"].sort_values("alpha")
    s = STEERING_STYLE["within"]
    ax.plot(within["alpha"], shown(within[effect]), color=s["color"], marker=s["marker"], lw=2)
    for condition in ("unrotated", "rotated"):
        s = STEERING_STYLE[condition]
        c = g[g["condition"] == condition]
        for _, per in c.groupby("model"):
            per = per.sort_values("alpha")
            ax.plot(per["alpha"], shown(per[effect]), color=s["color"], lw=0.8, alpha=0.5)
        mean = c.groupby("alpha")[effect].mean()
        ax.plot(mean.index, shown(mean.values), color=s["color"], marker=s["marker"], lw=2)
    r = g[g["condition"] == "random"].groupby("alpha")[[effect, f"{effect}_q10", f"{effect}_q90"]].mean()
    s = STEERING_STYLE["random"]
    ax.plot(r.index, shown(r[effect].values), color=s["color"], ls="--", lw=1.5)
    ax.fill_between(
        r.index, shown(r[f"{effect}_q10"].values), shown(r[f"{effect}_q90"].values), color=s["color"], alpha=0.2, lw=0
    )
    alphas = sorted(g["alpha"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    if log:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
