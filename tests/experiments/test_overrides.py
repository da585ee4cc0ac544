"""Dotted config keys: what `--set` writes, `dotted_items` reads back."""

from __future__ import annotations


def test_dotted_items_spell_keys_as_set_takes_them():
    from finfusion.experiments.overrides import apply_overrides, dotted_items

    raw = {"models": [{"name": "mlp", "params": {"epochs": 5}}], "seeds": [0, 1], "data": {}, "x": None}
    assert dict(dotted_items(raw)) == {"models.0.name": "mlp", "models.0.params.epochs": 5, "seeds.0": 0,
                                       "seeds.1": 1, "data": {}, "x": None}
    assert dict(dotted_items(raw, plain_lists=True))["seeds"] == [0, 1]
    # every key reads back what --set writes
    changed = apply_overrides(raw, [f"{k}=7" for k, v in dotted_items(raw) if isinstance(v, int)])
    assert [v for k, v in dotted_items(changed) if k.startswith(("models.0.params", "seeds"))] == [7, 7, 7]


def test_select_models_keeps_specs_by_label_or_name_in_config_order():
    from finfusion.experiments.overrides import select_models

    raw = {"models": [{"name": "prior", "label": "Train prior"}, {"name": "mlp"},
                      {"name": "mixture", "label": "A", "params": {"mode": "conventional"}},
                      {"name": "mixture", "label": "B"}], "seed": 0}
    picked = select_models(raw, ["mlp", "Train prior"])
    assert [m["name"] for m in picked["models"]] == ["prior", "mlp"]  # the config's order, not the request's
    assert [m["label"] for m in select_models(raw, ["mixture"])["models"]] == ["A", "B"]  # a name keeps all its specs
    assert len(raw["models"]) == 4  # the input is not changed


def test_select_models_names_what_is_unknown_and_what_there_is():
    import pytest

    from finfusion.errors import ConfigError
    from finfusion.experiments.overrides import select_models

    raw = {"models": [{"name": "prior", "label": "Train prior"}, {"name": "han", "label": "HAN"}]}
    with pytest.raises(ConfigError, match=r"no model labelled or named 'Han'.*'Train prior', 'HAN'"):
        select_models(raw, ["HAN", "Han"])
    with pytest.raises(ConfigError, match="at least one"):
        select_models(raw, [" "])
    with pytest.raises(ConfigError, match="no 'models' list"):
        select_models({"kind": "rl"}, ["HAN"])


def test_the_stocknet_recipe_runs_a_subset_with_models(monkeypatch, tmp_path):
    from finfusion.experiments.config import load_named_config

    monkeypatch.chdir(tmp_path)
    config = load_named_config("stocknet", quick=True, models=["Train prior", "adv_alstm"])
    assert [m.display for m in config.models] == ["Train prior", "Adv-ALSTM"]
    assert config.sweep.params == {} and config.sweep.seeds == [0]  # --quick: one seed, the paper rule
