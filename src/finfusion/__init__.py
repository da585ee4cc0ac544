"""finfusion: fuse financial text with market data to predict returns, direction and prices."""

__version__ = "0.1.0"
