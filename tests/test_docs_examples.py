"""Every ```python block of README.md and docs/*.md runs (issue 17).

A page's blocks run in file order in one namespace (a later block uses the names of an earlier
one), in a fresh temporary working directory. A block is compiled with the page's path and
padded to its line number, so a failure's traceback points at the line of the Markdown file.

Pages whose examples read files a reader would already have get them from `PAGE_SETUP`, made
here with the library (never mocked): README.md reads `data/prices.csv` and `data/texts.csv`
(written from a small simulated market), docs/sentiment.md loads the classifier that its
`finfusion sentiment train ... --out runs/pb` line trains (trained here on the tiny BERT of
tests/conftest.py). Every other object a page needs is made by a visible setup on the page.

A block that cannot run in a test carries, on the line directly above its fence,
`<!-- docs-test: skip (why) -->`; its page still runs its other blocks and then reports the
skipped ones by line and reason (pytest.skip), so they stay visible.

The fences are parsed here rather than with markdown-it-py, which is only a transitive
dependency: the docs use plain fences (``` or ~~~, at most 3 spaces of indentation), and
an unterminated fence or a malformed skip marker is an error naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest
import torch

from finfusion.data.readers import write_prices, write_texts
from finfusion.data.simtext import GRADE_PHRASES, N_GRADES
from finfusion.data.simulate import SimulatorConfig, simulate_market
from finfusion.text.sentiment.train import SentimentTrainConfig, train_sentiment

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

ROOT = Path(__file__).parents[1]
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)")
MARKER = "docs-test:"
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One ```python block: `line` is the 1-based line of its first code line in `path`;
    `skip` the reason of a `<!-- docs-test: skip (reason) -->` line directly above the fence."""

    path: Path
    line: int
    code: str
    skip: str | None = None

    @property
    def name(self) -> str:
        return f"{_rel(self.path)}:{self.line}"


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of the Markdown file `path`, in order (see the module docstring)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise ValueError(f"{_rel(path)}:{i + 1}: the fence {fence}{opening['info']} is never closed")
        if opening["info"].lower() == "python":
            code = "\n".join(line[min(indent, len(line) - len(line.lstrip(" "))):] for line in lines[i + 1:end])
            blocks.append(Block(path, i + 2, code + "\n", _skip_reason(path, lines, i)))
        i = end + 1
    return blocks


def _skip_reason(path: Path, lines: list[str], fence: int) -> str | None:
    """The reason of a skip marker on the line above line index `fence`; a line that mentions
    `docs-test:` but is not a well-formed marker is an error (no silent run or skip)."""
    above = lines[fence - 1] if fence > 0 else ""
    if MARKER not in above:
        return None
    marker = SKIP.match(above)
    if marker is None:
        raise ValueError(f"{_rel(path)}:{fence}: malformed marker {above.strip()!r}; expected "
                         "'<!-- docs-test: skip (reason) -->' directly above a ```python fence")
    return marker["reason"].strip()


def run_blocks(blocks: list[Block], namespace: dict) -> list[Block]:
    """Execute the blocks without a skip marker in order in `namespace`; returns the skipped ones.
    Each block is padded to its line, so tracebacks name the Markdown file's lines."""
    for block in blocks:
        if block.skip is None:
            exec(compile("\n" * (block.line - 1) + block.code, str(block.path), "exec"), namespace)
    return [block for block in blocks if block.skip is not None]


def write_readme_data(request: pytest.FixtureRequest) -> None:
    """data/prices.csv and data/texts.csv in the working directory: a simulated market of
    2 tickers and 250 trading days (x1..x6 as extra price columns, one headline a day)."""
    sim = simulate_market(SimulatorConfig(n_tickers=2, n_days=250, seed=0))
    write_prices(sim.prices, "data/prices.csv")
    write_texts(sim.texts, "data/texts.csv")


def train_pb_classifier(request: pytest.FixtureRequest) -> None:
    """runs/pb: what `finfusion sentiment train Sentences_AllAgree.txt --out runs/pb` writes,
    trained for 2 epochs on the tiny BERT. The labeled texts are the simulator's graded phrases
    (grades below neutral: negative, neutral grade: neutral, above: positive) in PhraseBank format."""
    neutral = N_GRADES // 2
    names = {g: "negative" if g < neutral else "neutral" if g == neutral else "positive" for g in range(N_GRADES)}
    lines = [f"The company {phrase} .@{names[g]}" for g, pool in enumerate(GRADE_PHRASES) for phrase in pool]
    Path("Sentences_AllAgree.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = SentimentTrainConfig(model=str(request.getfixturevalue("tiny_bert")), epochs=2, lr=5e-3,
                                  valid_fraction=0.25, device="cpu")
    train_sentiment("Sentences_AllAgree.txt", "runs/pb", config, report=False, log=lambda line: None, progress=False)


PAGE_SETUP: dict[str, Callable[[pytest.FixtureRequest], None]] = {
    "README.md": write_readme_data,
    "docs/sentiment.md": train_pb_classifier,
}


def doc_pages() -> list[Path]:
    """README.md and every docs/*.md that holds at least one ```python block."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [page for page in pages if page.is_file() and python_blocks(page)]


@pytest.fixture
def one_torch_thread():
    """The examples' models are tiny: one thread is faster than several on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("page", doc_pages(), ids=_rel)
def test_the_python_blocks_of_a_page_run_in_order(page: Path, tmp_path, monkeypatch, request, one_torch_thread):
    blocks = python_blocks(page)
    monkeypatch.chdir(tmp_path)
    setup = PAGE_SETUP.get(_rel(page))
    if setup is not None:
        setup(request)
    try:
        skipped = run_blocks(blocks, {"__name__": "__docs__"})
    finally:
        plt.close("all")
    if skipped:
        reasons = "; ".join(f"{block.name} ({block.skip})" for block in skipped)
        pytest.skip(f"ran {len(blocks) - len(skipped)} of {len(blocks)} blocks; skipped: {reasons}")


def test_python_blocks_are_found_with_their_lines_and_skip_reasons(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n"
        "```python\n"
        "a = 1\n"
        "```\n"
        "```bash\n"
        "ls\n"
        "```\n"
        "<!-- docs-test: skip (needs the StockNet copy) -->\n"
        "```python\n"
        "b = a\n"
        "````\n"
        "~~~python\n"
        "```\n"
        "~~~\n"
    )
    assert python_blocks(page) == [
        Block(page, 3, "a = 1\n"),
        Block(page, 10, "b = a\n", "needs the StockNet copy"),
        Block(page, 13, "```\n"),
    ]


def test_blocks_share_one_namespace_skip_marked_ones_do_not_run_and_errors_name_the_markdown_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\na = 1\n```\n<!-- docs-test: skip (needs a GPU) -->\n```python\nraise SystemExit\n```\n"
                    "text\n```python\nb = a + 1\n```\n")
    namespace: dict = {}
    skipped = run_blocks(python_blocks(page), namespace)
    assert namespace["b"] == 2 and [(block.line, block.skip) for block in skipped] == [(6, "needs a GPU")]

    page.write_text("# t\n\n```python\nx = 1\ny = undefined_name\n```\n")
    with pytest.raises(NameError) as failure:
        run_blocks(python_blocks(page), {})
    last = failure.traceback[-1]
    assert (Path(str(last.path)), last.lineno + 1) == (page, 5)  # pytest's lineno is 0-based


@pytest.mark.parametrize("text, message", [
    ("```python\na = 1\n", "page.md:1: the fence ```python is never closed"),
    ("<!-- docs-test: skipp (x) -->\n```python\na = 1\n```\n", "page.md:1: malformed marker"),
])
def test_an_open_fence_or_a_bad_marker_is_an_error_naming_the_line(tmp_path, text, message):
    page = tmp_path / "page.md"
    page.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        python_blocks(page)


def test_every_page_with_python_is_collected():
    found = {_rel(page) for page in doc_pages()}
    assert "README.md" in found and {"docs/evaluation.md", "docs/portfolio.md", "docs/rl.md"} <= found
