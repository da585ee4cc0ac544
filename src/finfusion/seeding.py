"""The one place randomness is seeded."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch; return a NumPy generator seeded with `seed`."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    import torch

    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A stable child seed for a unit of work (e.g. window 12 of seed 3), independent of run order."""
    ss = np.random.SeedSequence([seed, *[_key_int(k) for k in keys]])
    return int(ss.generate_state(1)[0])


def _key_int(key: int | str) -> int:
    if isinstance(key, int):
        return key
    return int.from_bytes(key.encode("utf-8")[:8].ljust(8, b"\0"), "little")
