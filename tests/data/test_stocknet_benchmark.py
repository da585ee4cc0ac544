"""StockNet benchmark samples on a tiny StockNet layout written into tmp_path."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finfusion.data.adapters.stocknet_benchmark import (
    COLUMNS,
    PRICE_FEATURES,
    RULES,
    benchmark_samples,
    sample_counts,
)
from finfusion.data.frames import CleaningReport
from finfusion.data.samples import BENCHMARK_FEATURES, benchmark_to_samples
from finfusion.errors import ConfigError, DataError

# AAA: movement per trading day (weekdays; 2013 rows are price history only)
AAA_MOVES = {
    "2013-12-30": 0.01, "2013-12-31": 0.01, "2014-01-02": 0.01, "2014-01-03": 0.01,
    "2014-01-06": 0.01, "2014-01-07": 0.01, "2014-01-08": 0.01, "2014-01-09": 0.01,
    "2014-01-10": -0.02,      # fall; its lag d-5..d-1 = 01-05..01-09
    "2014-01-13": 0.02,       # Monday: price window 01-09, 01-10
    "2014-01-14": 0.03,       # no tweet file 01-13: fails the code rule
    "2014-01-15": -0.005,     # exactly -0.5 %: neutral (dropped)
    "2014-01-16": -0.0050001,  # fall
    "2014-01-17": 0.0055,     # exactly 0.55 %: rise
    "2014-01-21": 0.0054999,  # neutral (dropped)
    "2014-01-22": 0.0,        # neutral (dropped)
    "2014-01-27": 0.04,       # lag 01-22..01-26 has no tweet
    "2015-07-31": 0.01,       # last train day
    "2015-08-03": -0.01,      # dev
    "2015-10-01": 0.02,       # test
    "2016-01-04": 0.02,       # in no split
}
AAA_TWEET_DAYS = ("2014-01-04", "2014-01-05", "2014-01-06", "2014-01-07", "2014-01-08", "2014-01-09",
                  "2014-01-10", "2014-01-12", "2015-07-30", "2015-08-01", "2015-09-30")
BBB_MOVES = {"2014-01-06": 0.01, "2014-01-07": -0.01, "2015-08-03": 0.02}  # no tweet directory


def _price_line(day: str, move: float) -> str:
    return "\t".join([day, f"{move:.7f}", "0.010000", "0.020000", "-0.010000", "0.500000", "1000.000000"])


def _tweet_line(stamp: datetime, text: str) -> str:
    return json.dumps({"text": text.split(), "created_at": stamp.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                       "user_id_str": "1"})


def _write_layout(root: Path, with_test_quarter: bool = True) -> Path:
    (root / "price" / "preprocessed").mkdir(parents=True)
    (root / "tweet" / "preprocessed").mkdir(parents=True)
    for ticker, moves in (("AAA", AAA_MOVES), ("BBB", BBB_MOVES)):
        days = [d for d in moves if with_test_quarter or d < "2015-10-01"]
        lines = [_price_line(d, moves[d]) for d in sorted(days, reverse=True)]  # newest first
        (root / "price" / "preprocessed" / f"{ticker}.txt").write_text("\n".join(lines) + "\n")
    (root / "price" / "preprocessed" / "EMP.txt").write_text("")  # a ticker without data (like GMRE)
    folder = root / "tweet" / "preprocessed" / "AAA"
    folder.mkdir()
    for day in AAA_TWEET_DAYS:
        noon = datetime.fromisoformat(day) + timedelta(hours=12)
        tag = day[5:].replace("-", "")
        # written newest first; the earlier tweet is stamped the previous UTC day (file name decides the day)
        lines = [_tweet_line(noon, f"late {tag}"), _tweet_line(noon - timedelta(hours=13), f"early {tag}")]
        (folder / day).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return _write_layout(tmp_path / "stocknet")


def _row(frame: pd.DataFrame, ticker: str, day: str) -> pd.Series:
    hit = frame[(frame["ticker"] == ticker) & (frame["date"] == pd.Timestamp(day))]
    assert len(hit) == 1, f"{ticker} {day}: {len(hit)} rows"
    return hit.iloc[0]


def test_labels_at_the_band_edges(root: Path):
    report = CleaningReport()
    samples = benchmark_samples(root, report=report)
    assert list(samples.columns) == list(COLUMNS)
    days = set(samples.loc[samples["ticker"] == "AAA", "date"].dt.strftime("%Y-%m-%d"))
    assert {"2014-01-15", "2014-01-21", "2014-01-22"}.isdisjoint(days)  # neutral band dropped
    assert _row(samples, "AAA", "2014-01-16")["label"] == 0  # just below -0.5 %: fall
    assert _row(samples, "AAA", "2014-01-17")["label"] == 1  # exactly 0.55 %: rise
    assert _row(samples, "AAA", "2014-01-10")["label"] == 0
    assert _row(samples, "AAA", "2014-01-10")["movement"] == pytest.approx(-0.02)
    neutral = [d for d in report.dropped if "neutral band" in d.reason]
    assert len(neutral) == 1 and neutral[0].count == 3
    assert "AAA 2014-01-15" in neutral[0].examples


def test_lag_window_boundaries_and_time_order(root: Path):
    sample = _row(benchmark_samples(root), "AAA", "2014-01-10")
    # d-6 (01-04) and d (01-10) are excluded; d-5 (01-05) .. d-1 (01-09) included, oldest first
    expected = tuple(f"{w} {tag}" for tag in ("0105", "0106", "0107", "0108", "0109") for w in ("early", "late"))
    assert sample["texts"] == expected
    assert sample["n_tweets"] == 10 and sample["n_tweet_days"] == 5


def test_price_window_is_the_trading_days_before_d_within_the_lag(root: Path):
    samples = benchmark_samples(root)
    friday = _row(samples, "AAA", "2014-01-10")  # [01-06, 01-10): 4 trading days
    assert friday["prices"].shape == (4, len(PRICE_FEATURES)) and friday["price_mask"].tolist() == [True] * 4
    assert friday["prices"][:, 0].tolist() == [0.01] * 4 and friday["prices"][0, -1] == 1000.0
    monday = _row(samples, "AAA", "2014-01-13")  # [01-09, 01-13): 01-09 and 01-10, right-aligned
    assert monday["price_mask"].tolist() == [False, False, True, True] and monday["n_price_days"] == 2
    np.testing.assert_array_equal(monday["prices"][:2], 0.0)
    assert monday["prices"][:, 0].tolist()[2:] == [0.01, -0.02]  # d's own row (0.02) is not an input
    assert monday["texts"][0] == "early 0108" and monday["texts"][-1] == "late 0112"


def test_each_rule_filters_as_specified(root: Path):
    aaa = {}
    for rule in RULES:
        frame = benchmark_samples(root, rule=rule, tickers=["AAA"])
        aaa[rule] = set(frame.loc[frame["split"] == "train", "date"].dt.strftime("%Y-%m-%d"))
    assert aaa["paper"] == {"2014-01-02", "2014-01-03", "2014-01-06", "2014-01-07", "2014-01-08", "2014-01-09",
                            "2014-01-10", "2014-01-13", "2014-01-14", "2014-01-16", "2014-01-17", "2014-01-27",
                            "2015-07-31"}
    # any_tweet: 01-02, 01-03 (tweets start 01-04) and 01-27 (lag 01-22..01-26) have no tweet in their lag
    assert aaa["any_tweet"] == aaa["paper"] - {"2014-01-02", "2014-01-03", "2014-01-27"}
    # code: steps = trading days in [d-4, d) + d; each lag day's tweets go to the first step after it;
    # every step needs a tweet.  01-07: steps 03,06,07 <- 02 | 03,04,05 | 06: step 03 gets nothing.
    # 01-08: 06,07,08 <- 03-05 | 06 | 07.  01-13: 09,10,13 <- 08 | 09 | 10-12.  01-14: step 14 <- 13 empty.
    # 2015-07-31 (no row in [07-27, 07-31)): one step 07-31 <- 07-26..07-30, which has 07-30.
    assert aaa["code"] == {"2014-01-08", "2014-01-09", "2014-01-10", "2014-01-13", "2015-07-31"}
    paper = benchmark_samples(root, tickers=["AAA"])
    empty = _row(paper, "AAA", "2014-01-27")
    assert empty["texts"] == () and empty["n_tweets"] == 0 and empty["n_tweet_days"] == 0


def test_splits_by_target_date_half_open(root: Path):
    samples = benchmark_samples(root, tickers=["AAA"])
    assert _row(samples, "AAA", "2015-07-31")["split"] == "train"
    assert _row(samples, "AAA", "2015-08-03")["split"] == "dev"
    assert _row(samples, "AAA", "2015-10-01")["split"] == "test"
    assert (samples["date"] < pd.Timestamp("2016-01-01")).all()  # 2016-01-04 is in no split
    counts = sample_counts(root, tickers=["AAA"])
    assert counts.loc["paper"].to_dict() == {"train": 13, "dev": 1, "test": 1, "total": 15}
    assert counts.loc["code"].to_dict() == {"train": 5, "dev": 1, "test": 1, "total": 7}
    assert counts.loc["any_tweet"].to_dict() == {"train": 10, "dev": 1, "test": 1, "total": 12}
    custom = benchmark_samples(root, tickers=["AAA"], splits=[("early", "2014-01-06", "2014-01-10")])
    assert custom["date"].dt.strftime("%d").tolist() == ["06", "07", "08", "09"]


def test_neutral_targets_of_unlabelled_splits_are_kept_with_label_minus_one(root: Path):
    plain = benchmark_samples(root, tickers=["AAA"])
    marked = benchmark_samples(root, tickers=["AAA"], unlabelled_splits=["train"])
    neutral = marked[~marked["labelled"]]
    assert neutral["date"].dt.strftime("%Y-%m-%d").tolist() == ["2014-01-15", "2014-01-21", "2014-01-22"]
    assert (neutral["label"] == -1).all() and plain["labelled"].all()
    labelled = marked[marked["labelled"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(labelled.drop(columns=["prices", "price_mask", "texts"]),
                                  plain.drop(columns=["prices", "price_mask", "texts"]))
    assert _row(marked, "AAA", "2014-01-15")["n_tweets"] == 4  # lag inputs as any target: files 01-10, 01-12
    samples = benchmark_to_samples(marked)
    assert samples.y[~samples.extras["labelled"]].tolist() == [-1, -1, -1]
    assert "labelled" not in benchmark_to_samples(plain).extras  # no marker without unlabelled rows
    with pytest.raises(ConfigError, match="unlabelled_splits"):
        benchmark_samples(root, unlabelled_splits=["valid"])


def test_tweet_cutoff_close_keeps_only_tweets_before_the_close_of_the_last_trading_day(root: Path):
    report = CleaningReport()
    cut = benchmark_samples(root, tickers=["AAA"], tweet_cutoff="close", report=report)
    full = benchmark_samples(root, tickers=["AAA"])
    # Friday 01-10: close of Thu 01-09 = 21:00 UTC; 'late 0109' (12:00 UTC 01-09) is before it
    assert _row(cut, "AAA", "2014-01-10")["texts"] == _row(full, "AAA", "2014-01-10")["texts"]
    # Monday 01-13: close of Fri 01-10; the weekend tweets (file 01-12: 23:00 UTC 01-11, 12:00 UTC 01-12) are after it
    monday = _row(cut, "AAA", "2014-01-13")["texts"]
    assert monday == tuple(t for t in _row(full, "AAA", "2014-01-13")["texts"] if not t.endswith("0112"))
    assert monday[-1] == "late 0110"
    # Tuesday 01-14 (close of Mon 01-13) sees them
    assert _row(cut, "AAA", "2014-01-14")["texts"][-2:] == ("early 0112", "late 0112")
    # Monday 2015-08-03 in summer time: close of Fri 07-31 = 20:00 UTC; file 08-01 ('early' = 23:00 UTC 07-31) is after it
    assert not any(t.endswith("0801") for t in _row(cut, "AAA", "2015-08-03")["texts"])
    assert any(t.endswith("0801") for t in _row(full, "AAA", "2015-08-03")["texts"])
    assert any("tweet_cutoff close" in d.reason for d in report.dropped)
    with pytest.raises(ConfigError, match="tweet_cutoff"):
        benchmark_samples(root, tweet_cutoff="open")


def test_empty_test_quarter_and_tickers_without_data(tmp_path: Path):
    root = _write_layout(tmp_path / "dev_copy", with_test_quarter=False)
    report = CleaningReport()
    counts = sample_counts(root, report=report)
    assert list(counts.index) == list(RULES) and list(counts.columns) == ["train", "dev", "test", "total"]
    assert (counts["test"] == 0).all() and counts.loc["paper", "train"] == 13 + 2
    reasons = {d.reason: d for d in report.dropped}
    assert reasons["ticker without price rows (empty price file)"].examples == ("EMP",)
    assert reasons["ticker without a tweet directory (its newsflows are empty)"].examples == ("BBB",)
    bbb = benchmark_samples(root, tickers=["BBB"])
    assert len(bbb) == 3 and (bbb["n_tweets"] == 0).all()


def test_rule_rejections_are_reported(root: Path):
    report = CleaningReport()
    benchmark_samples(root, rule="any_tweet", tickers=["AAA"], report=report)
    (entry,) = [d for d in report.dropped if "rule any_tweet" in d.reason]
    assert entry.count == 3 and entry.examples == ("AAA 2014-01-02", "AAA 2014-01-03", "AAA 2014-01-27")


def test_malformed_price_file_raises_naming_file_and_line(root: Path):
    path = root / "price" / "preprocessed" / "AAA.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "2014-01-31\t0.01\t0.02"] + lines[1:]) + "\n")
    with pytest.raises(DataError, match=r"AAA\.txt: line 2: expected 7 tab-separated fields"):
        benchmark_samples(root)
    path.write_text("2014-01-31\tabc\t0\t0\t0\t0\t0\n")
    with pytest.raises(DataError, match=r"line 1: expected numbers"):
        benchmark_samples(root)
    path.write_text("31/01/2014\t0.01\t0\t0\t0\t0\t0\n")
    with pytest.raises(DataError, match=r"YYYY-MM-DD date in field 1, got '31/01/2014'"):
        benchmark_samples(root)


def test_malformed_tweet_file_raises_naming_file_and_line(root: Path):
    path = root / "tweet" / "preprocessed" / "AAA" / "2014-01-06"
    path.write_text(path.read_text() + '{"text": ["x"], "created_at": "yesterday"}\n')
    with pytest.raises(DataError, match=r"2014-01-06: line 3: created_at 'yesterday'"):
        benchmark_samples(root)
    path.write_text("{not json\n")
    with pytest.raises(DataError, match=r"2014-01-06: line 1 is not valid JSON"):
        benchmark_samples(root)


NULL_ROW = "2016-06-29,null,null,null,null,null,null"  # as in the published PTR.csv, REX.csv and SNP.csv


def test_the_benchmark_source_raises_on_null_rows_or_drops_and_counts_them(root: Path):
    from finfusion.experiments.config import DataConfig
    from finfusion.experiments.sources import load_benchmark

    raw = root / "price" / "raw"
    raw.mkdir()
    for ticker in ("AAA", "BBB"):
        (raw / f"{ticker}.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                                           "2014-01-02,10,11,9,10,10,100\n" + NULL_ROW + "\n")
    clean = load_benchmark(DataConfig(source="stocknet_benchmark", stocknet_root=root, on_invalid="drop"))
    with pytest.raises(DataError, match=r"AAA\.csv: row 2, column '\w+': got 'null'"):
        load_benchmark(DataConfig(source="stocknet_benchmark", stocknet_root=root))
    prices = root / "price" / "preprocessed" / "AAA.txt"
    prices.write_text(NULL_ROW.replace(",", "\t") + "\n" + prices.read_text())
    tweets = root / "tweet" / "preprocessed" / "AAA" / "2014-01-06"
    tweets.write_text(tweets.read_text() + '{"text": ["x"], "created_at": "yesterday"}\n')
    with pytest.raises(DataError, match=r"AAA\.txt: line 1: expected numbers in fields 2-7"):
        load_benchmark(DataConfig(source="stocknet_benchmark", stocknet_root=root))
    data, samples = load_benchmark(DataConfig(source="stocknet_benchmark", stocknet_root=root, on_invalid="drop"))
    assert data.meta["samples_per_split"] == clean[0].meta["samples_per_split"]
    np.testing.assert_array_equal(samples.X, clean[1].X)
    assert samples.text_items == clean[1].text_items  # only the bad tweet line is gone
    assert data.prices["date"].dt.strftime("%Y-%m-%d").tolist() == ["2014-01-02", "2014-01-02"]
    dropped = {(d.step, d.reason.split(": ")[0].rsplit("/", 1)[-1]): d for d in data.report.dropped
               if "dropped" in d.reason or d.step == "validate_prices"}
    assert {k: (d.count, d.examples) for k, d in dropped.items()} == {
        ("stocknet_benchmark", "AAA.txt"): (1, ("line 1: '2016-06-29\\tnull\\tnull\\tnull\\tnull\\tnull\\tnull'",)),
        ("stocknet_benchmark", "2014-01-06"): (1, ("line 3",)),
        ("validate_prices", "AAA.csv"): (1, ("row 2: 'null'",)),
        ("validate_prices", "BBB.csv"): (1, ("row 2: 'null'",)),
    }


def test_bad_arguments_and_layout(root: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="rule must be one of"):
        benchmark_samples(root, rule="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="overlap"):
        sample_counts(root, splits=[("a", "2014-01-01", "2014-06-01"), ("b", "2014-05-01", "2014-07-01")])
    with pytest.raises(DataError, match="no price/preprocessed file for ticker"):
        benchmark_samples(root, tickers=["ZZZ"])
    with pytest.raises(DataError, match="has no price/preprocessed/ directory"):
        benchmark_samples(tmp_path)


def test_samples_for_models_keep_time_order_texts_and_the_padding_flag(root: Path):
    frame = benchmark_samples(root, rule="paper")
    samples = benchmark_to_samples(frame)
    assert samples.task == "classification" and samples.feature_names == BENCHMARK_FEATURES
    assert samples.X.shape == (len(frame), 4, len(BENCHMARK_FEATURES))
    assert samples.index["date"].is_monotonic_increasing
    row = frame.sort_values(["date", "ticker"], kind="mergesort").reset_index(drop=True)
    np.testing.assert_array_equal(samples.y, row["label"].to_numpy())
    assert samples.texts == tuple(" | ".join(t) for t in row["texts"])
    present = samples.X[..., -1]
    np.testing.assert_array_equal(present, np.stack(row["price_mask"].to_numpy()).astype(np.float32))
    assert np.all(samples.X[present == 0] == 0.0)  # padding rows are zeros
    np.testing.assert_allclose(samples.X[..., 5][present == 1], np.log1p(1000.0))  # volume as log(1 + volume)
    np.testing.assert_allclose(samples.extras["movement"], row["movement"])


def test_a_run_on_the_benchmark_source_trains_on_train_and_tests_on_dev(root: Path, tmp_path: Path, tiny_bert):
    from finfusion.experiments import runner
    from finfusion.experiments.config import parse_config

    raw = {"name": "sn", "data": {"source": "stocknet_benchmark", "stocknet_root": str(root)},
           "target": {"kind": "direction"},
           "models": [{"name": "factors", "params": {"epochs": 2}},
                      {"name": "news", "params": {"epochs": 2, "model": str(tiny_bert), "max_length": 16}}],
           "protocol": {"kind": "chronological", "test_start": "2015-08-01"},
           "output": {"plots": False}, "progress": False}
    result = runner.run(parse_config(raw), run_dir=tmp_path / "run")
    test_dates = pd.to_datetime(result.predictions["date"])
    assert (test_dates >= "2015-08-01").all()  # the dev split is the test split on a copy without a test quarter
    assert set(result.predictions["model"]) == {"factors", "news"}
    assert result.meta["source"]["samples_per_split"]["train"] > 0
    assert "truth_movement" in result.predictions


def test_a_rule_sweep_records_the_sample_counts_of_every_rule(root: Path, tmp_path: Path):
    from finfusion.experiments import runner
    from finfusion.experiments.config import parse_config

    raw = {"name": "sn", "data": {"source": "stocknet_benchmark", "stocknet_root": str(root)},
           "target": {"kind": "direction"}, "models": [{"name": "factors", "params": {"epochs": 1}}],
           "protocol": {"kind": "chronological", "test_start": "2015-08-01"},
           "sweep": {"params": {"data.benchmark.rule": ["paper", "any_tweet"]}},
           "output": {"plots": False}, "progress": False}
    result = runner.run(parse_config(raw), run_dir=tmp_path / "run")
    counts = result.meta["samples_per_point"]
    expected = {rule: sample_counts(root).loc[rule] for rule in ("paper", "any_tweet")}
    for rule in ("paper", "any_tweet"):
        assert counts[f"rule={rule}"]["train"] == expected[rule]["train"]
        assert counts[f"rule={rule}"]["dev"] == expected[rule]["dev"]
    assert "samples per split (rule=any_tweet)" in (tmp_path / "run" / "report.html").read_text()


def test_a_run_predicts_the_unlabelled_dev_days_for_the_backtest_but_scores_only_labelled_ones(root: Path,
                                                                                                  tmp_path: Path):
    from finfusion.experiments import runner
    from finfusion.experiments.config import parse_config

    moves = {**BBB_MOVES, "2015-08-04": 0.001, "2015-08-05": 0.03}  # a neutral dev day, then a labelled one
    lines = [_price_line(d, moves[d]) for d in sorted(moves, reverse=True)]
    (root / "price" / "preprocessed" / "BBB.txt").write_text("\n".join(lines) + "\n")
    raw = {"name": "sn", "data": {"source": "stocknet_benchmark", "stocknet_root": str(root)},
           "target": {"kind": "direction"}, "models": [{"name": "factors", "params": {"epochs": 2}}],
           "protocol": {"kind": "chronological", "test_start": "2015-08-01"},
           "analysis": {"portfolio": {"n_groups": 2, "holding_period": 1, "returns": "truth_movement"}},
           "output": {"plots": False}, "progress": False}
    runs = {}
    for neutral in ("drop", "predict"):
        raw["data"]["benchmark"] = {"neutral": neutral}
        runs[neutral] = runner.run(parse_config(raw), run_dir=tmp_path / neutral)
    dropped, kept = runs["drop"].predictions, runs["predict"].predictions
    unlabelled = kept[~kept["labelled"]]
    assert unlabelled[["date", "ticker"]].astype(str).values.tolist() == [["2015-08-04", "BBB"]]
    assert unlabelled["truth_movement"].tolist() == [0.001]
    scored = kept[kept["labelled"]].drop(columns=["labelled"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(scored.drop(columns=["fit_seconds"]), dropped.drop(columns=["fit_seconds"]))
    same = [c for c in runs["drop"].metrics.columns if "seconds" not in c]
    pd.testing.assert_frame_equal(runs["predict"].metrics[same], runs["drop"].metrics[same])
    assert runs["predict"].meta["source"]["samples_per_split"] == {"train": 15, "dev": 3, "test": 1,
                                                                   "dev unlabelled": 1}
    report = (tmp_path / "predict" / "report.html").read_text()
    assert "neutral-band days too" in report and "hindsight" in (tmp_path / "drop" / "report.html").read_text()


def test_each_tweet_and_price_row_carries_its_calendar_day_age(root: Path):
    frame = benchmark_samples(root)
    friday = _row(frame, "AAA", "2014-01-10")  # tweets of 01-05 .. 01-09, two a day; rows 01-06 .. 01-09
    assert friday["text_ages"] == (5, 5, 4, 4, 3, 3, 2, 2, 1, 1)
    assert friday["price_ages"].tolist() == [4, 3, 2, 1]
    monday = _row(frame, "AAA", "2014-01-13")  # tweets of 01-08, 01-09, 01-10, 01-12 (none 01-11); rows 01-09, 01-10
    assert monday["text_ages"] == (5, 5, 4, 4, 3, 3, 1, 1)
    assert monday["price_ages"].tolist() == [0, 0, 4, 3]  # padding rows have age 0
    samples = benchmark_to_samples(frame)
    assert all(len(a) == len(t) for a, t in zip(samples.text_item_ages, samples.text_items))
    at = samples.index.index[(samples.index["ticker"] == "AAA") & (samples.index["date"] == "2014-01-13")][0]
    assert samples.text_item_ages[at] == (5, 5, 4, 4, 3, 3, 1, 1)
    assert samples.extras["price_ages"][at].tolist() == [0, 0, 4, 3] and samples.extras["price_ages"].dtype == np.int64
    assert samples.extras["price_movements"][at].tolist() == [0.0, 0.0, 0.01, -0.02]  # raw, 0 on padding
