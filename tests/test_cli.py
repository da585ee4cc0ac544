import pandas as pd

from finfusion.cli import main

RUN_YAML = """
name: cli
progress: false
data:
  source: files
  prices: sim/prices.csv
  texts: sim/texts.jsonl
features:
  groups: [extra]
models:
  - name: xgboost
    params: {n_estimators: 10}
protocol: {kind: chronological, train: 0.7, valid: 0.1, test: 0.2}
output: {dir: runs}
"""


def test_simulate_then_check_then_run(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "sim"), "--set", "n_days=120", "--set", "n_features=3"]) == 0
    out = capsys.readouterr().out
    assert "wrote 120 price rows" in out and "noise_floor" in out
    prices = pd.read_csv(tmp_path / "sim" / "prices.csv")
    assert {"date", "ticker", "close", "x1", "x3"} <= set(prices.columns)

    assert main(["data", "check", str(tmp_path / "sim" / "prices.csv"), str(tmp_path / "sim" / "texts.jsonl")]) == 0
    assert "1" in capsys.readouterr().out

    (tmp_path / "run.yaml").write_text(RUN_YAML)
    assert main(["run", str(tmp_path / "run.yaml"), "--set", "name=cli2"]) == 0
    out = capsys.readouterr().out
    assert "xgboost" in out and "report.html" in out
    (run_dir,) = (tmp_path / "runs").iterdir()  # output.dir is relative to the config file
    assert run_dir.name.startswith("cli2-") and (run_dir / "predictions.parquet").exists()


def test_errors_exit_2_or_3_with_a_message(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "neither a file nor a recipe" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("models: [{name: mlp}]\nprotocol: {kind: rolling, windw: 3}\n")
    assert main(["run", str(tmp_path / "bad.yaml")]) == 2
    assert "protocol.rolling.windw" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path / "x"), "--set", "snr=-1"]) == 2
    assert "snr" in capsys.readouterr().err
    (tmp_path / "p.csv").write_text("date,ticker,open,high,low,close,volume\n2020-01-02,A,1,1,1,-1,5\n")
    assert main(["data", "check", str(tmp_path / "p.csv")]) == 3  # a data error
    err = capsys.readouterr().err
    assert "p.csv" in err and "close" in err and "-1" in err


def test_models_and_recipes_are_listed(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out and "xgboost" in out and "n_estimators=300" in out
    assert main(["recipes"]) == 0
    assert "demo" in capsys.readouterr().out


def test_run_models_keeps_only_the_named_models(tmp_path, capsys):
    import json

    assert main(["simulate", "--out", str(tmp_path / "sim"), "--set", "n_days=120", "--set", "n_features=3"]) == 0
    capsys.readouterr()
    two = RUN_YAML.replace("models:\n", "models:\n  - {name: ridge, label: Ridge}\n")
    (tmp_path / "run.yaml").write_text(two)
    assert main(["run", str(tmp_path / "run.yaml"), "--models", "xgboost", "--out", str(tmp_path / "r"),
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [row["model"] for row in document["summary"]] == ["xgboost"]
    assert main(["run", str(tmp_path / "run.yaml"), "--models", "Ridge,lasso"]) == 2
    assert "no model labelled or named 'lasso'" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path / "r"), "--models", "Ridge"]) == 2
