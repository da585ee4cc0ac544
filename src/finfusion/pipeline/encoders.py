"""The text encoder a pipeline's model reads: recorded by path and content hash when the pipeline
is fit, checked when it loads (a text model saves only what training changed; its frozen encoder
weights reload from the encoder's own files, which must be the same files). With `bundle`, the
encoder's files are copied into the pipeline (`encoder/`) and the model reads that copy."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import finfusion.io as io
from finfusion.errors import ConfigError
from finfusion.features.sentiment import SENTIMENT_GROUP, SentimentSpec, as_specs
from finfusion.fingerprint import tree_sha256
from finfusion.models.base import Predictor, Samples
from finfusion.text.scorers import is_lexicon
from finfusion.text.tokens import DEFAULT_MODEL_PACKAGE, default_model_path


def encoder_directory(predictor: Predictor) -> tuple[str, Path] | None:
    """(what the model names, the directory its encoder loads from) of a text model, else None.
    A name that is no local directory (a Hugging Face hub name) cannot be pinned: ConfigError."""
    if not predictor.uses_text or "model" not in predictor.get_params():
        return None
    named = predictor.get_params()["model"]
    if named is None:
        return f"the package {DEFAULT_MODEL_PACKAGE}", default_model_path()
    path = Path(named).expanduser()
    if not path.is_dir():
        raise ConfigError(f"the text encoder {named!r} is not a local directory: a pipeline pins its encoder by the "
                          "content of its files; download it once and give its directory as the model's `model`")
    return str(named), path.resolve()


BUNDLE = "encoder"  # the pipeline's folder of a bundled encoder


def encoder_reference(predictor: Predictor, bundle_into: Path | None = None) -> dict[str, Any] | None:
    """pipeline.json's `encoder`: {source, path, sha256, bundled} of a text model's encoder (None
    for other models); with `bundle_into` (the pipeline directory) its files are copied there."""
    found = encoder_directory(predictor)
    if found is None:
        return None
    source, path = found
    if bundle_into is not None:
        shutil.copytree(path, bundle_into / BUNDLE)
    return {"source": source, "path": str(path), "sha256": tree_sha256(path, recursive=False),
            "bundled": bundle_into is not None}


@contextmanager
def saved_model_reading(state: Path, recorded: dict[str, Any] | None, pipeline: Path) -> Iterator[Path]:
    """The saved state directory to load the model from: `state` itself, or, when the encoder is
    bundled, a temporary copy whose model reads the pipeline's `encoder/` (its saved `model`
    parameter named the encoder's path at fit time)."""
    if recorded is None or not recorded.get("bundled"):
        yield state
        return
    with tempfile.TemporaryDirectory(prefix="finfusion-pipeline-") as tmp:
        copy = Path(shutil.copytree(state, Path(tmp) / "state"))
        config = io.read_json(copy / "model" / "config.json")
        config["params"]["model"] = str((pipeline / BUNDLE).resolve())
        io.write_json(copy / "model" / "config.json", config)
        yield copy


def check_encoder(recorded: dict[str, Any] | None, predictor: Predictor, where: Path) -> None:
    """Refuse (ConfigError) a pipeline whose text encoder's files differ from those it was fit with."""
    if recorded is None:
        return
    found = encoder_directory(predictor)
    now = None if found is None else tree_sha256(found[1], recursive=False)
    if now != recorded["sha256"]:
        raise ConfigError(
            f"{where}: its text encoder ({recorded['source']}) is not the one it was fit with: sha256 "
            f"{recorded['sha256'][:12]}… at fit ({recorded['path']}), {str(now)[:12]}… now"
            f"{'' if found is None else f' ({found[1]})'}; predictions would not reproduce. Install the same "
            "encoder files, or fit the pipeline again")


def scorer_references(sentiment: SentimentSpec | list[SentimentSpec], samples: Samples) -> list[dict[str, Any]]:
    """pipeline.json's `scorers`: {scorer, sha256} of each fine-tuned classifier whose scores are
    features of `samples` (a lexicon has no files to pin)."""
    if not any(group.startswith(SENTIMENT_GROUP) for group in samples.feature_groups):
        return []
    return [{"scorer": spec.scorer, "sha256": tree_sha256(Path(spec.scorer), recursive=True)}
            for spec in as_specs(sentiment) if not is_lexicon(spec.scorer)]


def check_scorers(recorded: list[dict[str, Any]], where: Path) -> None:
    """Refuse (ConfigError) a pipeline whose sentiment classifiers' files changed since the fit."""
    for ref in recorded:
        path = Path(ref["scorer"])
        now = tree_sha256(path, recursive=True) if path.is_dir() else None
        if now != ref["sha256"]:
            raise ConfigError(f"{where}: the sentiment classifier {ref['scorer']} whose scores are features is "
                              f"{'missing' if now is None else 'not the one it was fit with (other files)'}; "
                              "predictions would not reproduce. Restore it, or fit the pipeline again")
