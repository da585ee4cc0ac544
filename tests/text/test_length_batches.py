"""`length_batches`: padded batches cut where another call costs less than the padding it saves."""

from __future__ import annotations

import numpy as np
import pytest

from finfusion.text.tokens import call_tokens, length_batches


def as_lists(batches):
    return [b.tolist() for b in batches]


def test_similar_lengths_fill_batches_of_max_batch():
    assert as_lists(length_batches([10] * 5, max_batch=2, call_cost=75)) == [[0, 1], [2, 3], [4]]
    assert as_lists(length_batches([10] * 5, max_batch=64, call_cost=75)) == [[0, 1, 2, 3, 4]]


def test_a_long_text_runs_alone_when_padding_the_others_costs_more_than_a_call():
    # one batch: 75 + 5 * 100 = 575 tokens of work; [100] + [10 x 4]: (75 + 100) + (75 + 40) = 290
    assert as_lists(length_batches([10, 100, 10, 10, 10], max_batch=64, call_cost=75)) == [[1], [0, 2, 3, 4]]
    # lengths 12 and 10: one call 75 + 2 * 12 = 99 beats two, 75 + 12 + 75 + 10 = 172
    assert as_lists(length_batches([10, 12], max_batch=64, call_cost=75)) == [[1, 0]]
    # a cheap call splits at every drop of length: [30, 30] [20] [10] costs 3 * 1 + 60 + 20 + 10 = 93
    assert as_lists(length_batches([10, 30, 20, 30], max_batch=64, call_cost=1)) == [[1, 3], [2], [0]]


def test_every_text_once_longest_first_and_no_batch_over_max():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 129, size=500)
    batches = length_batches(lengths, max_batch=64, call_cost=75)
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(500))
    assert np.all(np.diff(lengths[order]) <= 0)  # longest first
    assert max(len(b) for b in batches) <= 64
    assert length_batches([], max_batch=8, call_cost=75) == []
    with pytest.raises(ValueError, match="max_batch must be >= 1"):
        length_batches([3], max_batch=0, call_cost=75)


def test_the_cut_is_the_cheapest_of_all_cuts():
    lengths = [40, 38, 25, 24, 23, 9, 8]  # sorted: every cut of a sorted list is a composition of 7
    cost = lambda runs: sum(75 + len(r) * lengths[r[0]] for r in runs)  # noqa: E731
    cheapest = min(_compositions(list(range(7)), max_batch=4), key=cost)
    assert cost(as_lists(length_batches(lengths, max_batch=4, call_cost=75))) == cost(cheapest)


def test_a_call_costs_more_on_accelerators():
    assert call_tokens("cpu") == 75 and call_tokens("cuda") > 10_000


def _compositions(items: list[int], max_batch: int):
    if not items:
        yield []
        return
    for k in range(1, min(max_batch, len(items)) + 1):
        for rest in _compositions(items[k:], max_batch):
            yield [items[:k], *rest]
