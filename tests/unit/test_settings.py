"""polyrot.settings: every setting documented, typed and defaulted in one place; the default
config and the JSON schema generated from it; overlays that repeat nothing; command lines and
library sections that take their defaults and checks from it."""

import json

import pydantic
import pytest
import yaml

from polyrot import config, settings


def test_every_setting_is_documented_typed_and_defaulted():
    """One source: every leaf of the config is a field of polyrot.settings with a docstring, and
    the defaults are a valid config (the offline default run)."""
    found = list(settings.leaves())
    assert len(found) > 100
    undocumented = [leaf.key for leaf in found if len(leaf.doc.split()) < 2]
    assert not undocumented, f"settings without a docstring: {undocumented}"
    assert config.load({}).raw == config.load_file("config/config.yaml").raw
    classes = {leaf.owner for leaf in found}
    assert all(c.__doc__ and not c.__doc__.startswith(c.__name__ + "(") for c in classes)


def test_config_yaml_and_schema_are_generated_from_the_settings(repo):
    """config/config.yaml writes out every default with its documentation, and config/schema.json
    is the settings' JSON schema; regenerate both with python -m polyrot.settings yaml|schema."""
    assert (repo / "config/config.yaml").read_text() == settings.default_yaml(), "regenerate config/config.yaml"
    assert json.loads((repo / "config/schema.json").read_text()) == settings.schema(), "regenerate config/schema.json"
    assert yaml.safe_load((repo / "config/config.yaml").read_text()) == settings.defaults()
    # the schema refuses what the settings refuse, and documents what they document
    schema = settings.schema()
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["steps"]["minimum"] == 1 and "paper 60000" in train["steps"]["description"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", ["config/paper.yaml", "config/test.yaml"])
def test_overlays_hold_only_what_they_change(repo, name):
    """No leaf of an overlay repeats its default: one value, one place."""
    defaults = settings.defaults()

    def repeats(overlay, base, path=""):
        for key, value in overlay.items():
            here = f"{path}{key}"
            below = base.get(key) if isinstance(base, dict) else None
            if isinstance(value, dict) and isinstance(below, dict):
                yield from repeats(value, below, here + ".")
            elif below is not None and json.dumps(value) == json.dumps(below):
                yield here
            elif isinstance(value, list | float | int) and value == below:  # 1 and 1.0 alike
                yield here

    overlay = yaml.safe_load((repo / name).read_text())
    assert list(repeats(overlay, defaults)) == []


def test_command_lines_take_their_defaults_from_the_settings():
    """No restated defaults: each command line's options default to the settings' defaults."""
    import argparse

    from polyrot import sae
    from polyrot.bars import causal, parametric

    def defaults_of(main):
        seen = {}

        def capture(self, args=None, namespace=None):
            seen.update(vars(argparse.ArgumentParser.parse_known_args(self, ["x", "y"])[0]))
            raise SystemExit(0)

        original = argparse.ArgumentParser.parse_args
        argparse.ArgumentParser.parse_args = capture
        try:
            with pytest.raises(SystemExit):
                main([])
        finally:
            argparse.ArgumentParser.parse_args = original
        return seen

    bars = settings.Bars()
    assert {k: v for k, v in defaults_of(causal.main).items() if k in ("mean_n", "eval_n", "seed")} == {
        "mean_n": bars.causal.mean_n,
        "eval_n": bars.causal.eval_n,
        "seed": bars.causal.seed,
    }
    p = defaults_of(parametric.main)
    assert (p["restarts"], p["iterations"], p["refine_steps"], p["seed"]) == (
        bars.P.restarts,
        bars.P.iterations,
        bars.P.refine_steps,
        bars.P.seed,
    )
    s, arm = defaults_of(sae.main), settings.SAESettings()
    assert (s["expansion"], s["l1"], s["lr"], s["batch_size"], s["steps"], s["seed"]) == (
        arm.expansions[0],
        arm.l1,
        arm.lr,
        arm.batch_size,
        arm.steps,
        arm.seed,
    )
    assert sae.SAEConfig.of(None) == sae.SAEConfig(
        arm.expansions[0], arm.l1, arm.lr, arm.batch_size, arm.steps, arm.seed
    )


def test_section_checks_sit_with_their_fields():
    """A typed section refuses a bad value itself, naming the field (used by library code and
    command lines alike)."""
    with pytest.raises(pydantic.ValidationError, match="warmup_steps"):
        config.TrainConfig(steps=10, warmup_steps=10)
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 1"):
        config.TaskConfig(heldout_n=0)
    with pytest.raises(pydantic.ValidationError, match="Unexpected keyword"):
        config.TrainConfig(stpes=10)
