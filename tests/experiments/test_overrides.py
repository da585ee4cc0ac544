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
