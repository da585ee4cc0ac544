"""Forecasting pipelines: one model of a run config fit on all labelled data (or on its last
window, as the rolling protocol would), saved as one self-contained directory, loaded to forecast
the next day from recent prices and texts (`finfusion fit`, `finfusion predict`, `finfusion serve`).

    from finfusion.pipeline import fit, load_pipeline
    fit(config, model="MLP", out="pipelines/mlp")
    rows = load_pipeline("pipelines/mlp").predict(prices, texts)
"""

from __future__ import annotations

from finfusion.pipeline.fit import fit, training_split
from finfusion.pipeline.saved import Pipeline, forecast_records, load_pipeline

__all__ = ["Pipeline", "fit", "forecast_records", "load_pipeline", "training_split"]
