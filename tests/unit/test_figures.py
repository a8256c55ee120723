"""The figure registry and Figure 4's bars, which come from the verdicts it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from polyrot import figure_jobs, figures, verdicts  # noqa: E402


def _record(bar: str, comparison: str, values: list[float]) -> verdicts.Verdict:
    units = [{"unit": f"within:M{i}", "kind": "within", "value": v, "ci95": None} for i, v in enumerate(values)]
    spec = {"comparison": comparison, "threshold": 0.5}
    judged = verdicts.judge_units(units, spec)
    return verdicts.Verdict(**judged, bar=bar, name=f"bar {bar}", units=units, **spec)


def test_figure4_draws_the_bars_it_is_given_in_their_order():
    records = {"P": _record("P", "<", [0.0, 0.1]), "B": _record("B", "<", [0.2, 0.3]), "X": _record("X", ">", [0.9])}
    fig = figures.figure4(records, {"within-seed": "within:M0"})  # no Bar C: no scatter
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(" (")[0] for ax in shown] == ["Bar P", "Bar B", "Bar X"]
    assert shown[0].get_yscale() == "log" and shown[2].get_yscale() == "linear"


def test_every_figure_rule_has_a_job_in_the_registry(repo):
    rules = (repo / "workflow/rules/figures.smk").read_text()
    drawn = {line.split()[1].rstrip(":") for line in rules.splitlines() if line.startswith("rule ")} - {"figures"}
    assert drawn == set(figure_jobs.JOBS)
    assert rules.count('"../scripts/figure.py"') == len(figure_jobs.JOBS)
