"""Atomic writes (README "Reliability"): a failed write leaves the old file whole and no temporary file."""

import os
import stat

import pytest

from finfusion import io
from finfusion.errors import DataError


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"old": 1})

    def half(path):
        path.write_text('{"new": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        io.atomic_write(target, half)
    assert io.read_json(target) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = io.write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_damaged_parquet_is_named_with_how_to_recover(tmp_path):
    path = tmp_path / "fold.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"fold.parquet cannot be read .*; delete it"):
        io.read_parquet(path, recover="delete it")
