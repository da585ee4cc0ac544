"""Headline generator for the simulator (`finfusion.data.simulate`).

Two modes:

* ``informative`` — each headline's wording encodes the simulated sentiment. The continuous
  sentiment s ~ U(-a, a) is cut into ``N_GRADES`` = 7 equal-width grades (0 = strongly negative,
  3 = neutral, 6 = strongly positive); every grade has its own pool of verb phrases
  (``GRADE_PHRASES``), and a headline is a random template filled with a ticker mention, one
  phrase of the day's grade and a sentiment-free context clause. Numbers in the text (quarters,
  head counts, dates, volumes) are drawn independently of everything else, so they carry no
  information about the target. Optional distractor sentences (``DISTRACTORS``) carry no sentiment.
  The grade is recoverable from the words; which words is not fixed (12-14 phrases per grade,
  5 subject forms, ~20 contexts, 5 templates), so memorising a few strings is not enough.
* ``random`` — semantics-free text as in seed 000 §3.1: words drawn uniformly from a fixed
  vocabulary, independent of the sentiment.

Written by hand because no library generates graded financial headlines; the pools are plain
data so tests (and users) can build a lexicon from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_GRADES = 7

# One pool per grade, from strongly negative (0) to strongly positive (6). No phrase is a
# substring of a phrase from another grade, of a context or of a distractor (checked by tests).
GRADE_PHRASES: tuple[tuple[str, ...], ...] = (
    (
        "plunges", "collapses", "crashes", "plummets", "tumbles sharply",
        "sinks to a multi-year low", "issues a profit warning", "slashes full-year guidance",
        "misses estimates by a wide margin", "faces a major fraud probe",
        "suspends its dividend", "reports a steep loss", "sees demand evaporate",
    ),
    (
        "falls", "drops", "declines", "misses expectations", "cuts its outlook",
        "warns of weaker demand", "is downgraded by analysts", "loses a key contract",
        "reports lower margins", "fails to meet forecasts", "retreats", "sees orders shrink",
    ),
    (
        "slips", "edges lower", "dips slightly", "eases a little", "faces mild headwinds",
        "trims its forecast slightly", "sees somewhat softer orders", "drifts down",
        "weakens modestly", "ticks down", "softens a bit", "pulls back slightly",
    ),
    (
        "is little changed", "holds steady", "trades flat", "reports results in line with estimates",
        "keeps its guidance unchanged", "shows no clear direction", "maintains its dividend",
        "moves sideways", "stays range-bound", "ends near unchanged", "reaffirms its plan",
        "sees stable orders",
    ),
    (
        "edges higher", "ticks up", "inches up", "firms slightly", "sees modestly better orders",
        "nudges its forecast up", "gains slightly", "drifts up", "improves modestly",
        "finds mild support", "strengthens a bit", "recovers slightly",
    ),
    (
        "rises", "climbs", "advances", "beats expectations", "raises its outlook",
        "is upgraded by analysts", "wins a new contract", "reports higher margins",
        "tops forecasts", "rebounds", "sees orders grow", "posts solid growth",
    ),
    (
        "surges", "soars", "skyrockets", "jumps sharply", "rallies to a record high",
        "smashes earnings estimates", "sharply raises full-year guidance",
        "announces a blockbuster deal", "posts record profit", "sees demand explode",
        "doubles its dividend", "rockets higher", "blows past forecasts",
    ),
)

_SUBJECTS = ("${tick}", "{tick}", "{name}", "{name} ({tick})", "{name} stock")

_CONTEXTS = (
    "after its Q{q} update",
    "as {a} analysts revise their models",
    "in {month} trading",
    "ahead of its investor day on {month} {day}",
    "following a {a}-day conference",
    "on volume of {b} million shares",
    "as the index trades near {c} points",
    "after a meeting with {a} regulators",
    "at its {year} capital markets event",
    "as it opens {a} new offices",
    "in the session",
    "before the bell",
    "during the afternoon",
    "in a filing dated {month} {day}",
    "after a call with {a} investors",
    "as traders watch the Fed",
    "while peers report this week",
    "as it names a new CFO",
    "after {b} years in the sector",
    "with {a} products in the pipeline",
)

_TEMPLATES = (
    "{subj} {vp} {ctx}",
    "{Ctx}, {subj} {vp}",
    "{subj} {vp}",
    "Report: {subj} {vp} {ctx}",
    "{subj} {vp} {ctx}, sources say",
)

DISTRACTORS = (
    "The company employs about {a},{c:03d} people.",
    "Its annual meeting is scheduled for {month} {day}.",
    "The board has {a} members.",
    "Analysts at {a} firms cover the stock.",
    "The firm operates {c} branches in {a} countries.",
    "The headquarters moved in {year}.",
    "Its fiscal year ends in {month}.",
    "The company was founded in {year}.",
    "A conference call is planned for {month} {day} at {hour} a.m.",
    "It lists {b} subsidiaries in its filing.",
    "The chief executive has led the firm since {year}.",
    "The company reports in {a} business segments.",
)

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)

# Semantics-free vocabulary for text_mode="random" (no finance sentiment words).
RANDOM_VOCAB: tuple[str, ...] = tuple(
    """lorem ipsum dolor amet consectetur adipiscing elit sed eiusmod tempor incididunt labore
    dolore magna aliqua enim minim veniam quis nostrud exercitation ullamco laboris nisi aliquip
    commodo consequat duis aute irure reprehenderit voluptate velit esse cillum fugiat nulla
    pariatur excepteur sint occaecat cupidatat proident sunt culpa officia deserunt mollit anim
    est laborum blue table river window seven paper orange lamp garden pencil circle cloud stone
    violin carpet ladder mirror bottle forest candle harbor meadow puzzle saddle tunnel velvet
    wagon yellow zebra anchor basket cabin dolphin engine feather glacier hammer island jacket
    kettle lantern marble needle oyster parrot quilt ribbon spoon tulip umbrella vessel walnut
    """.split()
)

# Fake company names for the first tickers; later tickers get generic names.
_COMPANIES = (
    ("NRVX", "Norvex Industries"), ("QLTA", "Qualta Systems"), ("BRNL", "Bernal Foods"),
    ("CSTR", "Castor Energy"), ("DVLN", "Devlin Pharma"), ("ELMW", "Elmwood Retail"),
    ("FYRE", "Fyrestone Mining"), ("GLDN", "Goldane Logistics"), ("HRZN", "Horizane Media"),
    ("ISLT", "Isolite Semiconductors"), ("JNPR", "Juniper Vale Bank"), ("KSTL", "Kestrel Motors"),
    ("LMNR", "Lumenar Software"), ("MRDN", "Meridane Telecom"), ("NBLA", "Nebula Aerospace"),
    ("OKRG", "Oakridge Chemicals"), ("PLRS", "Polaris Insurance"), ("QNTM", "Quantara Devices"),
    ("RDGE", "Ridgeway Utilities"), ("SLVR", "Silverline Shipping"),
)


@dataclass(frozen=True)
class TextSlots:
    """Which texts to generate: one entry per text, all arrays of length n_texts.

    day: int index of the trading day; ticker_idx: int index into `tickers`;
    grade: int in [0, N_GRADES) (ignored for distractors); kind: 0 headline, 1 distractor only.
    """

    ticker_idx: np.ndarray
    grade: np.ndarray
    kind: np.ndarray


def default_tickers(n: int) -> tuple[tuple[str, str], ...]:
    """(ticker, company name) for n simulated stocks: fake names first, then SIM<i>."""
    out = list(_COMPANIES[:n])
    out += [(f"SIM{i + 1}", f"Simco {i + 1} Holdings") for i in range(len(out), n)]
    return tuple(out)


def company_name(ticker: str) -> str:
    """Company-like name for a user-given ticker (the fake names keep their own)."""
    known = dict(_COMPANIES)
    return known.get(ticker, f"{ticker.title()} Corp")


def sentiment_grade(sentiment: np.ndarray, scale: float) -> np.ndarray:
    """Grade 0..N_GRADES-1 of sentiment in [-scale, scale] (equal-width bins; int64 array)."""
    g = np.floor((np.asarray(sentiment, dtype=float) + scale) / (2.0 * scale) * N_GRADES)
    return np.clip(g, 0, N_GRADES - 1).astype(np.int64)


def grade_midpoint(grade: np.ndarray, scale: float) -> np.ndarray:
    """Centre of each grade's sentiment bin: the best guess of sentiment from the grade alone."""
    return -scale + (np.asarray(grade, dtype=float) + 0.5) * (2.0 * scale / N_GRADES)


def _numbers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Independent filler numbers (never derived from the simulated market)."""
    return {
        "q": rng.integers(1, 5, n),
        "a": rng.integers(2, 40, n),
        "b": rng.integers(2, 90, n),
        "c": rng.integers(100, 999, n),
        "day": rng.integers(1, 29, n),
        "year": rng.integers(1950, 2020, n),
        "hour": rng.integers(7, 12, n),
        "month": rng.integers(0, 12, n),
    }


def _fill(template: str, nums: dict[str, np.ndarray], i: int) -> str:
    return template.format(
        q=nums["q"][i], a=nums["a"][i], b=nums["b"][i], c=nums["c"][i], day=nums["day"][i],
        year=nums["year"][i], hour=nums["hour"][i], month=_MONTHS[nums["month"][i]],
    )


def _headlines(grades: np.ndarray, ticks: list[str], names: list[str],
               rng: np.random.Generator) -> list[str]:
    """One headline per entry of `grades` (ticks / names: the mention per entry)."""
    n = len(grades)
    pool_sizes = np.array([len(p) for p in GRADE_PHRASES])
    phrase = (rng.random(n) * pool_sizes[grades]).astype(np.int64)
    subj = rng.integers(0, len(_SUBJECTS), n)
    ctx = rng.integers(0, len(_CONTEXTS), n)
    tmpl = rng.integers(0, len(_TEMPLATES), n)
    nums = _numbers(rng, n)
    out = []
    for i in range(n):
        s = _SUBJECTS[subj[i]].format(tick=ticks[i], name=names[i])
        c = _fill(_CONTEXTS[ctx[i]], nums, i)
        out.append(_TEMPLATES[tmpl[i]].format(
            subj=s, vp=GRADE_PHRASES[grades[i]][phrase[i]], ctx=c, Ctx=c[:1].upper() + c[1:],
        ))
    return out


def _distractors(n: int, rng: np.random.Generator) -> list[str]:
    which = rng.integers(0, len(DISTRACTORS), n)
    nums = _numbers(rng, n)
    return [_fill(DISTRACTORS[which[i]], nums, i) for i in range(n)]


def informative_texts(slots: TextSlots, tickers: list[str], names: list[str],
                      n_distractors: int, append: bool, rng: np.random.Generator) -> list[str]:
    """Texts for `slots`: headlines (kind 0) with `n_distractors` sentences appended when
    `append`, and distractor-only texts (kind 1) of one sentence each."""
    n = len(slots.kind)
    ticks = [tickers[k] for k in slots.ticker_idx]
    nms = [names[k] for k in slots.ticker_idx]
    head_idx = np.flatnonzero(slots.kind == 0)
    heads = _headlines(slots.grade[head_idx], [ticks[i] for i in head_idx],
                       [nms[i] for i in head_idx], rng)
    out = [""] * n
    for j, i in enumerate(head_idx):
        out[i] = heads[j]
    if append and n_distractors:
        extra = _distractors(len(head_idx) * n_distractors, rng)
        for j, i in enumerate(head_idx):
            out[i] = out[i] + ". " + " ".join(extra[j * n_distractors:(j + 1) * n_distractors])
    dis_idx = np.flatnonzero(slots.kind == 1)
    for j, s in zip(dis_idx, _distractors(len(dis_idx), rng), strict=True):
        out[j] = f"{nms[j]} ({ticks[j]}): {s}"
    return out


def random_texts(n: int, min_words: int, max_words: int, rng: np.random.Generator) -> list[str]:
    """`n` semantics-free texts of min_words..max_words words from RANDOM_VOCAB."""
    lengths = rng.integers(min_words, max_words + 1, n)
    words = rng.integers(0, len(RANDOM_VOCAB), (n, max_words))
    vocab = np.array(RANDOM_VOCAB, dtype=object)
    return [" ".join(vocab[words[i, : lengths[i]]]) for i in range(n)]
