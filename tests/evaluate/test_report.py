import base64
import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from finfusion import __version__
from finfusion.errors import DataError
from finfusion.evaluate.plots import plot_bar, save_figure
from finfusion.evaluate.report import (
    TALL_TABLE_ROWS,
    Code,
    Image,
    KeyValues,
    Section,
    Table,
    WarningBox,
    compact_png,
    config_section,
    non_default_settings,
    render_report,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _figure():
    return plot_bar(pd.Series([1.0, -0.5], index=["a", "b"]), "bars")


def _report(tmp_path):
    png = save_figure(_figure(), tmp_path / "saved.png")
    metrics = pd.DataFrame({"mse": [0.0842, 0.1601], "mae": [0.0485, np.nan]}, index=pd.Index(["Fusion", "MLP"], name="model"))
    sections = [
        Section("Setup", ["A run on <script>alert('x')</script> data.\n\nSecond paragraph.",
                          {"encoder": "all-MiniLM-L6-v2", "window": 90, "params": {"lr": 1e-3}},
                          WarningBox("Test dates 2019-2020 fall before the encoder's pre-training cut-off.",
                                     title="Pre-training leakage")]),
        Section("Results", [metrics, Table(metrics, caption="MSE & MAE", floatfmt="{:.3f}"), _figure(),
                            Image(png, caption="saved plot"), Code("seed: 0\nmodel: <fusion>")]),
        Section("Empty", []),
    ]
    return render_report(title="Run <1>", sections=sections, subtitle="seed 000", generated_at=WHEN)


def test_report_contains_sections_tables_and_images(tmp_path):
    out = _report(tmp_path)
    assert out.startswith("<!DOCTYPE html>")
    for title in ("Setup", "Results", "Empty"):
        assert f">{title}</h2>" in out
    assert out.count('<table class="ff-table">') == 2
    assert '<table class="ff-kv">' in out and "all-MiniLM-L6-v2" in out and "{&quot;lr&quot;: 0.001}" in out
    assert "<td class=\"num\">0.0842</td>" in out and "<td class=\"num\">0.084</td>" in out
    assert "<caption>MSE &amp; MAE</caption>" in out
    assert '<div class="warning"' in out and "Pre-training leakage" in out
    assert "<pre>seed: 0\nmodel: &lt;fusion&gt;</pre>" in out
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', out)
    assert len(images) == 2
    assert all(base64.b64decode(b)[:8] == PNG_MAGIC for b in images)
    assert "<figcaption>saved plot</figcaption>" in out
    assert f"finfusion {__version__}" in out and "2025-01-02 03:04:05 UTC" in out


def test_report_escapes_user_text_and_is_self_contained(tmp_path):
    out = _report(tmp_path)
    assert "<script" not in out.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert "<title>Run &lt;1&gt;</title>" in out
    assert "http://" not in out and "https://" not in out
    assert "<link" not in out and "src=\"data:" in out


def test_report_rejects_bad_blocks_and_images(tmp_path):
    with pytest.raises(TypeError, match="section 'S', block 0"):
        render_report(title="t", sections=[Section("S", [object()])])
    with pytest.raises(TypeError, match=r"sections\[0\]"):
        render_report(title="t", sections=["not a section"])
    bogus = tmp_path / "x.png"
    bogus.write_text("not an image")
    with pytest.raises(DataError, match="not a PNG"):
        render_report(title="t", sections=[Section("S", [bogus])])
    with pytest.raises(DataError, match="does not exist"):
        render_report(title="t", sections=[Section("S", [tmp_path / "missing.png"])])


def test_report_leaves_figures_open():
    fig = _figure()
    render_report(title="t", sections=[Section("S", [fig])])
    assert isinstance(fig, Figure) and fig.axes  # still usable by the caller


def test_write_report_atomic(tmp_path):
    out = render_report(title="t", sections=[Section("S", ["x", KeyValues({"a": 1}, caption="kv")])], generated_at=WHEN)
    path = write_report(tmp_path / "run" / "report.html", html=out)
    assert path.read_text(encoding="utf-8") == out
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_embedded_pngs_are_compacted_and_tall_tables_scroll_in_a_box(tmp_path):
    png = save_figure(_figure(), tmp_path / "f.png").read_bytes()
    small = compact_png(png)
    assert small.startswith(PNG_MAGIC) and len(small) <= len(png)
    long = pd.DataFrame({"x": range(TALL_TABLE_ROWS + 1)})
    out = render_report(title="t", sections=[Section("S", [long, long.head(3)])])
    assert out.count('<div class="table-wrap tall">') == 1 and out.count('<div class="table-wrap">') == 1
    assert "position: sticky" in out and "max-width: 1100px" not in out  # sticky headers, full width


def test_configuration_shows_exactly_the_non_default_settings():
    from finfusion.experiments.config import parse_config

    config = parse_config({"name": "x", "data": {"source": "files", "prices": "p.csv"},
                           "models": [{"name": "mlp", "params": {"hidden": 8}}, {"name": "xgboost", "label": "XGB"}],
                           "protocol": {"kind": "walk_forward", "n_folds": 3},
                           "analysis": {"pnl": {"cost_bps": 10.0}}, "target": {"kind": "direction"}})
    diff = non_default_settings(config)
    assert set(diff) == {"name", "data.source", "data.prices", "models.0.name", "models.0.params", "models.1.name",
                         "models.1.label", "protocol.kind", "protocol.n_folds", "analysis.pnl.cost_bps", "target.kind"}
    assert diff["models.0.params"] == {"hidden": 8} and diff["protocol.kind"] == "walk_forward"
    assert diff["data.prices"].endswith("p.csv")  # JSON-ready (a path as text)
    section = config_section(config)
    assert section.title == "Configuration" and "config.yaml" in section.blocks[0]
    assert section.blocks[1].items == diff
