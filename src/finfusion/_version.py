"""The package version (one home: the CLI, reports and saved models read it here)."""

__version__ = "0.1.0"
