"""The path table: one literal pattern per artefact, and results/README.md generated from it."""

from __future__ import annotations

import pytest

from polyrot import paths


def test_results_readme_is_the_path_table(repo):
    assert (repo / "results/README.md").read_text() == paths.readme(), (
        "results/README.md is stale: python -m polyrot.paths > results/README.md"
    )


def test_an_artefact_takes_exactly_its_wildcards(tmp_path):
    results = paths.Results(tmp_path)
    assert results("acts", arm="toy", model="A0", checkpoint="best", site="resid_mid_0", split="fit") == (
        tmp_path / "toy/acts/A0/best/resid_mid_0.fit.npz"
    )
    assert results("sae", arm="{arm}", model="{model}", site="{site}", expansion="{expansion}") == (
        tmp_path / "{arm}/saes/{model}/{site}/x{expansion}.safetensors"
    )
    with pytest.raises(KeyError, match="takes"):
        results("acts", arm="toy")


def test_no_two_artefacts_share_a_pattern():
    patterns = [a.pattern for a in paths.ARTEFACTS.values()]
    assert len(set(patterns)) == len(patterns)
