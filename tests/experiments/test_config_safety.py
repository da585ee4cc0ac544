"""Bad configs get one clear ConfigError before anything runs (issue 16: items 1, 7, 12, 13, 14)."""

import time

import numpy as np
import pandas as pd
import pytest

from finfusion.data.shapes import InputShape
from finfusion.errors import ConfigError, DataError
from finfusion.experiments.config import apply_overrides, config_to_dict, load_config, parse_config
from finfusion.experiments.sources import load_market_data
from finfusion.experiments.yaml_loader import MAX_YAML_VALUES, load_yaml
from finfusion.protocols.splitters import ChronologicalSplit

BASE = {"models": [{"name": "mlp"}], "progress": False}


def _config(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


# -- item 1: a chronological split never puts a date in two parts ---------------------------------

def test_valid_start_after_test_start_is_refused_naming_both_dates():
    raw = {**BASE, "protocol": {"kind": "chronological", "valid_start": "2020-08-01", "test_start": "2020-05-01"}}
    with pytest.raises(ConfigError, match="valid_start 2020-08-01 must come before test_start 2020-05-01"):
        parse_config(raw)


def test_valid_start_equal_to_test_start_is_refused():
    raw = {**BASE, "protocol": {"kind": "chronological", "valid_start": "2020-05-01", "test_start": "2020-05-01"}}
    with pytest.raises(ConfigError, match="must come before"):
        parse_config(raw)


def test_valid_start_alone_is_not_silently_ignored():
    raw = {**BASE, "protocol": {"kind": "chronological", "valid_start": "2020-08-01"}}
    with pytest.raises(ConfigError, match="valid_start 2020-08-01 needs test_start"):
        parse_config(raw)


def test_dates_and_explicit_ratios_together_are_refused():
    raw = {**BASE, "protocol": {"kind": "chronological", "train": 0.9, "valid": 0.0, "test": 0.1,
                                "test_start": "2020-05-01"}}
    with pytest.raises(ConfigError, match="dates .* or ratios"):
        parse_config(raw)


def test_the_splitter_itself_refuses_overlapping_bounds():
    with pytest.raises(ConfigError, match="must come before"):
        ChronologicalSplit(valid_start="2020-08-01", test_start="2020-05-01")


def test_date_boundaries_split_without_overlap():
    dates = np.repeat(pd.bdate_range("2020-01-01", periods=200).to_numpy(), 2)
    (split,) = ChronologicalSplit(valid_start="2020-05-01", test_start="2020-08-03").split(dates)
    train, valid, test = (set(dates[i]) for i in (split.train, split.valid, split.test))
    assert not (train & valid) and not (train & test) and not (valid & test)
    assert max(train) < pd.Timestamp("2020-05-01") <= min(valid) and max(valid) < pd.Timestamp("2020-08-03") <= min(test)


def test_dates_come_from_yaml_and_from_set_alike(tmp_path):
    text = "models: [{name: mlp}]\nprotocol: {kind: chronological, test_start: 2015-10-01}\n"
    from_yaml = _config(tmp_path, text)
    from_set = load_config(tmp_path / "c.yaml", ["protocol.test_start=2015-10-01", "protocol.valid_start=2015-08-01"])
    assert str(from_yaml.protocol.test_start) == "2015-10-01"
    assert (str(from_set.protocol.valid_start), str(from_set.protocol.test_start)) == ("2015-08-01", "2015-10-01")


def test_a_date_that_is_not_a_date_is_refused_at_parse():
    raw = {**BASE, "protocol": {"kind": "chronological", "valid_start": "notadate", "test_start": "2020-05-01"}}
    with pytest.raises(ConfigError, match=r"protocol\.chronological\.valid_start: .*valid date.*notadate"):
        parse_config(raw)


# -- item 7 / 12 / 13: YAML itself ------------------------------------------------------------------

def test_a_duplicate_key_is_refused_naming_it_and_both_lines(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml: .*key 'seed' twice \(first on line 1\)"):
        _config(tmp_path, "seed: 1\nmodels: [{name: mlp}]\nseed: 2\n")


def test_a_duplicate_nested_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="key 'epochs' twice"):
        _config(tmp_path, "models:\n  - name: mlp\n    params: {epochs: 3, epochs: 5}\n")


def test_a_yaml_syntax_error_names_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML: line 3, column 1: while parsing a flow mapping \(from line 2, column 11\)"):
        _config(tmp_path, "models: [{name: mlp}]\nprotocol: {kind: rolling\n")


def test_a_python_tag_is_refused_as_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="python/object/apply:os.system"):
        _config(tmp_path, "models: [{name: mlp}]\nseed: !!python/object/apply:os.system ['echo hi']\n")


def test_an_alias_bomb_is_refused_fast_with_a_short_message(tmp_path):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"more than {MAX_YAML_VALUES:,} values") as err:
        _config(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5  # refused before expansion (was 14 s and 1.4 GB)
    assert len(str(err.value)) < 500


def test_a_recursive_alias_is_refused():
    with pytest.raises(ConfigError, match="recursive"):
        load_yaml("a: &a [*a]\n", source="x")


def test_error_messages_do_not_echo_huge_values():
    raw = {**BASE, "seed": "x" * 100_000}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert "seed" in str(err.value) and len(str(err.value)) < 1000


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"models: [{name: mlp}]\nname: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


# -- item 12: --set -------------------------------------------------------------------------------

def test_set_with_invalid_yaml_value_names_the_override():
    with pytest.raises(ConfigError, match=r"--set features.groups=\[returns: not valid YAML"):
        apply_overrides({}, ["features.groups=[returns"])


def test_set_into_a_scalar_is_refused():
    with pytest.raises(ConfigError, match="--set seed.x: seed is 0, not a mapping"):
        apply_overrides({"seed": 0}, ["seed.x=5"])


# -- item 14: the run name stays a directory name ----------------------------------------------------

@pytest.mark.parametrize("name", ["../../../../elsewhere/x", "a/b", "..", ".hidden", "/abs", ""])
def test_run_names_cannot_be_paths(name):
    with pytest.raises(ConfigError, match="plain directory name"):
        parse_config({**BASE, "name": name})


def test_rl_run_names_cannot_be_paths():
    raw = {"kind": "rl", "name": "../x", "groups": {"g": ["A", "B"]},
           "split": {"train_end": "2020-01-01", "valid_end": "2020-06-01"}}
    with pytest.raises(ConfigError, match="plain directory name"):
        parse_config(raw)


# -- no silent fallback to the simulator (issue 17's first defect, needed by the probe) -------------

def test_file_paths_without_a_source_mean_files():
    assert parse_config({**BASE, "data": {"prices": "p.csv", "texts": "t.jsonl"}}).data.source == "files"


@pytest.mark.parametrize("data, named", [
    ({"source": "simulate", "prices": "p.csv"}, "data.prices"),
    ({"source": "files", "prices": "p.csv", "stocknet_root": "s"}, "data.stocknet_root"),
    ({"source": "stocknet", "stocknet_root": "s", "texts": "t.jsonl"}, "data.texts"),
    ({"source": "files", "prices": "p.csv", "simulate": {"n_days": 50}}, "data.simulate"),
])
def test_a_source_that_contradicts_its_keys_is_refused_naming_both(data, named):
    with pytest.raises(ConfigError, match=rf"data.source '{data['source']}' contradicts {named}"):
        parse_config({**BASE, "data": data})


def test_a_saved_files_config_round_trips():
    from finfusion.experiments.config import config_to_dict

    config = parse_config({**BASE, "data": {"prices": "p.csv"}})
    assert parse_config(config_to_dict(config)) == config


# -- issue 17: the shape of the user's files (data.columns, layout, wide_value, ticker, text_time) -----

SHAPED = {"prices": "p.csv", "texts": "t.csv", "columns": {"date": "Day", "text": "headline", "timestamp": "when"},
          "layout": "wide", "wide_value": "adj_close", "ticker": "AAPL", "text_time": "16:01"}


def test_shape_keys_give_the_input_shape_and_round_trip():
    config = parse_config({**BASE, "data": SHAPED})
    assert config.data.input_shape() == InputShape(columns=SHAPED["columns"], layout="wide", wide_value="adj_close",
                                                   ticker="AAPL", text_time="16:01")
    assert parse_config(config_to_dict(config)) == config
    assert parse_config({**BASE, "data": {"prices": "p.csv"}}).data.input_shape() == InputShape()


@pytest.mark.parametrize("data, message", [
    ({"columns": {"Close": "Adj Close"}}, r"data.columns: .*unknown key\(s\) \['Close'\].*allowed keys"),
    ({"columns": {"close": ""}}, r"data.columns: .*non-empty string"),
    ({"text_time": "4pm"}, r"data.text_time: .*expected a local time of day HH:MM"),
    ({"text_time": "24:00"}, r"data.text_time: .*HH:MM"),
    ({"layout": "tall"}, r"data.layout: .*'auto', 'long' or 'wide'"),
    ({"wide_value": "open"}, r"data.wide_value: .*'close' or 'adj_close'"),
    ({"ticker": " AAPL"}, r"ticker=' AAPL'"),
    ({"ticker": "AAPL", "tickers": ["MSFT"]}, r"data.ticker 'AAPL' is not among data.tickers \['MSFT'\]"),
])
def test_bad_shape_keys_are_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, "data": {"prices": "p.csv", **data}})


@pytest.mark.parametrize("source, extra, named", [
    ("stocknet", {"stocknet_root": "s"}, "data.columns"),
    ("stocknet_benchmark", {"stocknet_root": "s"}, "data.columns"),
    ("simulate", {}, "data.columns"),
])
def test_shape_keys_contradict_sources_other_than_files(source, extra, named):
    with pytest.raises(ConfigError, match=rf"data.source '{source}' contradicts {named} .*source files"):
        parse_config({**BASE, "data": {"source": source, **extra, "columns": {"close": "Adj Close"}}})
    with pytest.raises(ConfigError, match=rf"data.source '{source}' contradicts data.text_time"):
        parse_config({**BASE, "data": {"source": source, **extra, "text_time": "16:01"}})


def test_files_source_reads_a_wide_table_and_texts_without_tickers(tmp_path):
    (tmp_path / "p.csv").write_text("Day,AAPL\n2015-01-02,10\n2015-01-05,\n2015-01-06,11\n")
    (tmp_path / "t.csv").write_text("when,headline\n2015-01-02,dated\n2015-01-05T09:00:00-05:00,timed\n")
    config = parse_config({**BASE, "data": {**SHAPED, "prices": str(tmp_path / "p.csv"),
                                            "texts": str(tmp_path / "t.csv"), "ticker": None}})
    data = load_market_data(config.data, timezone=config.market.timezone)
    assert data.prices[["ticker", "close", "adj_close"]].values.tolist() == [["AAPL", 10.0, 10.0], ["AAPL", 11.0, 11.0]]
    assert data.texts["ticker"].tolist() == ["AAPL", "AAPL"]
    assert data.texts["timestamp"].tolist() == [pd.Timestamp("2015-01-02 21:01", tz="UTC"),
                                                pd.Timestamp("2015-01-05 14:00", tz="UTC")]
    assert data.report.dropped[0].count == 1 and data.report.dropped[0].reason.endswith("(not rows)")
    assert data.meta["read"][0].endswith("wide table: 1 tickers, cells = adj_close; close = adj_close")
    assert "every text belongs to 'AAPL'" in data.meta["read"][1]


def test_files_source_refuses_date_only_texts_without_text_time(tmp_path):
    (tmp_path / "p.csv").write_text("date,ticker,close\n2015-01-02,AAPL,10\n")
    (tmp_path / "t.csv").write_text("timestamp,ticker,text\n2015-01-02,AAPL,dated\n")
    config = parse_config({**BASE, "data": {"prices": str(tmp_path / "p.csv"), "texts": str(tmp_path / "t.csv"),
                                            "default_tz": "UTC"}})
    with pytest.raises(DataError, match=r"(?s)expected a timestamp with a time of day.*data.text_time"):
        load_market_data(config.data, timezone=config.market.timezone)


def test_a_time_of_day_is_text_from_yaml_and_from_set(tmp_path):
    """YAML 1.1 reads 16:00 as the base-60 number 960; finfusion's loader reads it as text (YAML 1.2)."""
    from_yaml = _config(tmp_path, "models: [{name: mlp}]\nmarket: {close_time: 15:30}\n")
    assert from_yaml.market.close_time == "15:30"
    from_set = load_config(tmp_path / "c.yaml", ["market.close_time=16:00", "data.simulate.close_time=16:00"])
    assert from_set.market.close_time == "16:00" and str(from_set.data.simulate.close_time) == "16:00:00"
