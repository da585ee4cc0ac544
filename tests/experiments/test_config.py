from pathlib import Path

import pytest

from finfusion.errors import ConfigError
from finfusion.experiments.config import apply_overrides, load_config, parse_config

BASE = {"models": [{"name": "mlp"}], "protocol": {"kind": "rolling", "window": 30}}


def test_defaults_and_types():
    cfg = parse_config(BASE)
    assert cfg.protocol.window == 30 and cfg.target.kind == "return" and cfg.target.task == "regression"


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"protocol\.rolling\.windw: Extra inputs are not permitted"):
        parse_config({**BASE, "protocol": {"kind": "rolling", "windw": 3}})


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "target": {"kind": "returns"}})
    msg = str(err.value)
    assert "target.kind" in msg and "'return'" in msg and "'direction'" in msg and "returns" in msg


def test_unknown_model_and_param_rejected():
    with pytest.raises(ConfigError, match="nope"):
        parse_config({**BASE, "models": [{"name": "nope"}]})
    with pytest.raises(ConfigError, match="hiden"):
        parse_config({**BASE, "models": [{"name": "mlp", "params": {"hiden": 3}}]})


def test_overrides_by_dotted_path():
    raw = apply_overrides(BASE, ["protocol.window=45", "models.0.params.epochs=2", "target.neutral_band=[-0.005, 0.0055]"])
    cfg = parse_config(raw)
    assert cfg.protocol.window == 45 and cfg.models[0].params == {"epochs": 2}
    assert cfg.target.neutral_band == (-0.005, 0.0055)
    assert BASE["protocol"]["window"] == 30  # the input is not modified
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(BASE, ["protocol.window"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides(BASE, ["models.3.name=x"])


def test_paths_resolve_relative_to_config_file(tmp_path: Path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "run.yaml").write_text(
        "models: [{name: mlp}]\ndata: {source: files, prices: data/p.csv}\noutput: {dir: out}\n"
    )
    cfg = load_config(folder / "run.yaml")
    assert cfg.data.prices == (folder / "data" / "p.csv").resolve()
    assert cfg.output.dir == (folder / "out").resolve()


def test_yaml_is_loaded_safely(tmp_path: Path):
    path = tmp_path / "evil.yaml"
    path.write_text("models: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(Exception) as err:
        load_config(path)
    assert "hacked" not in str(err.value) or "python/object" in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/run.yaml")


def test_quick_section_applies_only_with_quick(tmp_path: Path):
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "models: [{name: mlp}]\nprotocol: {kind: rolling, window: 90}\n"
        "quick: {protocol.window: 20, models.0.params.epochs: 1}\n"
    )
    assert load_config(path).protocol.window == 90
    quick = load_config(path, ["protocol.window=30"], quick=True)
    assert quick.protocol.window == 30 and quick.models[0].params == {"epochs": 1}
    (tmp_path / "plain.yaml").write_text("models: [{name: mlp}]\n")
    with pytest.raises(ConfigError, match="no 'quick' section"):
        load_config(tmp_path / "plain.yaml", quick=True)


def test_scientific_notation_is_a_float_in_files_and_overrides(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("models: [{name: mlp, params: {lr: 5e-4}}]\n")
    assert load_config(path).models[0].params["lr"] == 5e-4
    assert load_config(path, ["models.0.params.lr=1E-3"]).models[0].params["lr"] == 1e-3


@pytest.mark.parametrize(
    ("model", "params", "param"),
    [
        ("mlp", {"epochs": "five"}, "epochs"),
        ("mlp", {"epochs": 5.5}, "epochs"),
        ("mlp", {"epochs": True}, "epochs"),
        ("mlp", {"lr": float("nan")}, "lr"),
        ("mlp", {"lr": float("inf")}, "lr"),
        ("mlp", {"hidden": -16}, "hidden"),
        ("xgboost", {"max_depth": -3}, "max_depth"),
    ],
)
def test_bad_model_param_values_fail_when_the_config_is_parsed(model, params, param):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "models": [{"name": model, "params": params}]})
    msg = str(err.value)
    assert f"model {model!r} parameter {param!r}: got {next(iter(params.values()))!r}, expected" in msg


def test_bad_model_param_from_a_yaml_file_and_an_override_fail_at_load(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("models: [{name: mlp, params: {epochs: true, lr: .nan}}]\n")
    with pytest.raises(ConfigError, match=r"(?s)parameter 'epochs': got True.*parameter 'lr': got nan"):
        load_config(path)
    (tmp_path / "ok.yaml").write_text("models: [{name: mlp}]\n")
    with pytest.raises(ConfigError, match=r"parameter 'epochs': got 'ten', expected an integer >= 1"):
        load_config(tmp_path / "ok.yaml", ["models.0.params.epochs=ten"])


def test_bad_privacy_model_param_fails_when_the_config_is_parsed():
    raw = {
        **BASE,
        "target": {"kind": "direction"},
        "analysis": {"privacy": {"models": [{"name": "dp_mlp", "params": {"hidden": -16}}]}},
    }
    with pytest.raises(ConfigError, match=r"model 'dp_mlp' parameter 'hidden': got -16, expected an integer >= 1"):
        parse_config(raw)
