"""`RowCache`, the storage of the on-disk caches: rows come back as written, parts are merged."""

from __future__ import annotations

import numpy as np

from finfusion.text.disk_cache import MAX_PARTS, RowCache, text_keys


def test_rows_come_back_from_a_new_reader_and_many_parts_are_merged(tmp_path):
    writer = RowCache(tmp_path, 3, "float32")
    texts = [f"text {i}" for i in range(MAX_PARTS + 2)]
    keys = text_keys(texts)
    for i, key in enumerate(keys):
        writer.add([key], np.full((1, 3), i, dtype=np.float32))
    assert len(list(tmp_path.glob("part-*.keys.npy"))) == MAX_PARTS + 2
    rows, found = RowCache(tmp_path, 3, "float32").lookup(keys + text_keys(["never stored"]))
    assert found.tolist() == [True] * len(keys) + [False]
    assert [float(r[0]) for r in rows[:-1]] == list(range(len(keys))) and rows[-1] is None
    assert len(list(tmp_path.glob("part-*.keys.npy"))) == 1  # merged on that first read
    rows, found = RowCache(tmp_path, 3, "float32").lookup(keys)
    assert found.all() and [float(r[2]) for r in rows] == list(range(len(keys)))


def test_text_keys_differ_per_text_and_are_stable():
    assert text_keys(["a", "b", "a"]) == [text_keys(["a"])[0], text_keys(["b"])[0], text_keys(["a"])[0]]
    assert len(set(text_keys(["a", "a ", "A"]))) == 3


def test_cache_info_and_clear_commands(tmp_path, monkeypatch, capsys):
    from finfusion.cli import main
    from finfusion.text.disk_cache import CACHE_ENV, row_cache

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    row_cache("encoder", "ab" * 32, "L128-cls-float32", 2, "float32").add(text_keys(["x"]), np.ones((1, 2)))
    row_cache("sentiment", "cd" * 32, "L128", 3, "float64").add(text_keys(["x"]), np.ones((1, 3)) / 3)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path} (2 model caches" in out and f"encoder/{'ab' * 16}-L128-cls-float32: 1 part(s)" in out
    assert main(["cache", "clear", "--kind", "sentiment"]) == 0
    assert "removed 1 model cache(s)" in capsys.readouterr().out
    assert {p.parent.parent.name for p in tmp_path.glob("*/*/part-*")} == {"encoder"}
    monkeypatch.setenv(CACHE_ENV, "off")
    assert main(["cache", "info"]) == 0 and "off" in capsys.readouterr().out
