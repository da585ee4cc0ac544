"""The package's import graph has no cycles (imports inside functions count), and every module
imports on its own in a fresh interpreter (a cycle through `importlib` or a lazy registry would fail
with "partially initialized module")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import finfusion

ROOT = Path(finfusion.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in ROOT.rglob("*.py"))


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The finfusion modules `path` imports anywhere in it (`from a import b` counts a.b when that
    is a module, else a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
    return {m for m in found if m in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycles():
    modules = set(MODULES)
    graph = {m: set() for m in modules}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        graph[name] = {m for m in _imports(path, modules) if m != name and not name.startswith(m + ".")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_imports_alone_in_a_fresh_interpreter():
    optional = {"finfusion.executors.ray_cluster"}  # an extra; installed with [test], so imported too
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'finfusion' or m.startswith('finfusion.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as err:\n"
        "        failed.append(f'{name}: {type(err).__name__}: {err}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", done.stdout
    assert optional <= set(MODULES)


HEAVY = ("torch", "pandas", "transformers", "sklearn", "matplotlib", "xgboost")


@pytest.mark.parametrize("argv", [["--help"], ["models"], ["models", "--json"], ["recipes"], ["run", "--help"],
                                  ["demo", "--help"], ["serve", "--help"], ["sentiment", "--help"],
                                  ["compare", "--help"], ["fit", "--help"], ["predict", "--help"]])
def test_listing_and_help_import_no_heavy_library(argv):
    """Start-up: `finfusion models`, `recipes` and every `--help` answer without torch, pandas or the
    models (benchmarks/startup.py times them)."""
    code = ("import sys\nfrom finfusion.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in %r if m in sys.modules), file=sys.stderr)" % (argv, HEAVY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_import_finfusion_imports_no_heavy_library():
    loaded = subprocess.run([sys.executable, "-c", "import sys, finfusion; print(sorted(m for m in %r if m in "
                             "sys.modules))" % (HEAVY,)], capture_output=True, text=True, timeout=120)
    assert loaded.stdout.strip() == "[]"
