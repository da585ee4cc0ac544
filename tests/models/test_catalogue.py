"""The packaged model catalogue (what `finfusion models` lists without importing torch) is the registry's."""

from __future__ import annotations

from finfusion.models.catalogue import build_catalogue, read_catalogue


def test_the_packaged_catalogue_is_up_to_date():
    assert read_catalogue() == build_catalogue(), (
        "src/finfusion/models/catalogue.json is out of date: run `python -m finfusion.models.catalogue`")


def test_the_catalogue_lists_every_model_with_its_parameters():
    by_name = {m["name"]: m for m in read_catalogue()}
    assert {"mlp", "xgboost", "naive"} <= set(by_name)
    assert by_name["naive"]["params"] == {"feature": None} and by_name["naive"]["tasks"] == ["regression"]
