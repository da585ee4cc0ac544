"""The sentiment modules import one another one way (imports inside functions and under
`if TYPE_CHECKING:` included), and the moved run types keep their old import paths."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import finfusion.text.sentiment as package
from finfusion.text.sentiment import train, train_config

PREFIX = "finfusion.text.sentiment"


def sentiment_imports(folder: Path) -> dict[str, set[str]]:
    """module name -> the sibling modules it imports anywhere in its source (every ast node)."""
    names = {f.stem for f in folder.glob("*.py") if f.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{PREFIX}."):
                deps.add(node.module.removeprefix(f"{PREFIX}.").split(".")[0])
            elif isinstance(node, ast.Import):
                deps |= {
                    a.name.removeprefix(f"{PREFIX}.").split(".")[0]
                    for a in node.names
                    if a.name.startswith(f"{PREFIX}.")
                }
        graph[name] = (deps & names) - {name}
    return graph


def test_the_sentiment_modules_have_no_import_cycle():
    graph = sentiment_imports(Path(package.__file__).parent)
    assert {"hf", "reporting", "train", "train_config"} <= set(graph)
    order = list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order.index("train_config") < order.index("hf") < order.index("train")
    assert order.index("reporting") < order.index("train")
    assert "train" not in graph["hf"] | graph["reporting"] | graph["train_config"]


def test_the_run_types_keep_their_import_paths():
    assert train.SentimentTrainConfig is train_config.SentimentTrainConfig is package.SentimentTrainConfig
    assert train.TrainResult is train_config.TrainResult is package.TrainResult
    assert train_config.SentimentTrainConfig().replace(epochs=2).epochs == 2
