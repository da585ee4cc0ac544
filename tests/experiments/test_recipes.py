"""Every packaged recipe parses (full and --quick), plans its units and names valid model params."""

from __future__ import annotations

import pytest

from finfusion.experiments.config import load_config
from finfusion.experiments.plan import plan_units
from finfusion.experiments.recipes import available_recipes, recipe_path
from finfusion.models.registry import make_predictor

CASES = [(name, False) for name in available_recipes()] + [
    (name, True) for name in available_recipes() if "\nquick:" in recipe_path(name).read_text()
]  # the demo is already small: no quick section


@pytest.mark.parametrize(("name", "quick"), CASES, ids=[f"{n}-{'quick' if q else 'full'}" for n, q in CASES])
def test_recipe_plans_units_with_valid_models(name, quick):
    config = load_config(recipe_path(name), quick=quick)
    if getattr(config, "kind", None) == "rl":  # an RL portfolio experiment: agents, not predictors
        from finfusion.experiments.rl_runner import _jobs

        jobs = _jobs(config)
        assert jobs and {s for _, _, _, s in jobs} == set(config.seeds)
        return
    if getattr(config, "kind", None) == "sentiment":  # classifier trials, not predictors
        assert config.search is not None and config.search.grid()
        return
    units = plan_units(config)
    assert units
    for spec in config.models:
        make_predictor(spec.name, spec.params)  # unknown or misspelt parameters raise ConfigError
    seeds = {u.seed for u in units}
    assert seeds == set(config.sweep.seeds if config.sweep else [config.seed])


def test_end_to_end_recipe_trains_the_encoder():
    config = load_config(recipe_path("seed000_end_to_end"))
    text_models = [m for m in config.models if m.name in ("fusion", "text_only")]
    assert len(text_models) == 2
    assert all(m.params["tuning"] == "top_k" and m.params["encoder_frozen_epochs"] == 2 for m in text_models)
    assert len(plan_units(config)) == 3 * 5  # three models x five repeats at the baseline
