"""finfusion: fuse financial text with market data to predict returns, direction and prices.

The notebook API (imported on first use, so `import finfusion` stays light):

    import finfusion as ff
    data = ff.load_frames(prices_df, texts_df, close_time="16:00", timezone="America/New_York")
    run = ff.run("my.yaml", data=data)          # or a dict, a recipe name, a RunConfig
    run.metrics, run.predictions, run.report_path, run.dir
    ff.open_run("runs/my-run-20261203-101500")  # a finished run; ff.resume(dir) continues one
    ff.fit(run.dir, model="Fusion", out="pipelines/fusion")       # a forecasting pipeline
    ff.load_pipeline("pipelines/fusion").predict(prices_df, texts_df)  # tomorrow's forecasts
"""

from __future__ import annotations

from typing import Any

from finfusion._version import __version__

__all__ = ["InputShape", "LoadedData", "Pipeline", "Run", "__version__", "fit", "load_frames", "load_pipeline", "open_run",
           "resume", "run"]


def __getattr__(name: str) -> Any:
    """The notebook API, imported when first used (torch and the run machinery load only then)."""
    if name in ("load_frames", "LoadedData"):
        from finfusion.data import loaded

        return getattr(loaded, name)
    if name == "InputShape":
        from finfusion.data.shapes import InputShape

        return InputShape
    if name in ("run", "open_run", "resume", "Run"):
        from finfusion.experiments import notebook

        return getattr(notebook, name)
    if name in ("fit", "load_pipeline", "Pipeline"):
        from finfusion import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'finfusion' has no attribute {name!r}")
