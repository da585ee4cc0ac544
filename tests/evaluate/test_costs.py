"""`evaluate.costs`: the one turnover / cost / net convention of every backtest (worked by hand)."""

from __future__ import annotations

import pandas as pd
import pytest

from finfusion.evaluate.costs import net_of_costs, turnover


def test_turnover_starts_from_an_empty_book():
    weights = pd.DataFrame({"A": [1.0, 0.5, 0.0], "B": [0.0, 0.5, -1.0]})
    # enter A: 1; half to B: 0.5 + 0.5; A out and B from +0.5 to -1: 0.5 + 1.5
    assert turnover(weights).tolist() == [1.0, 1.0, 2.0]


def test_cost_is_basis_points_per_side_of_turnover():
    cost, net = net_of_costs(0.01, 2.0, 10.0)  # a round trip of the book at 10 bps per side
    assert cost == pytest.approx(0.002) and net == pytest.approx(0.008)
    costs, nets = net_of_costs(pd.Series([0.01, -0.02]), pd.Series([1.0, 0.0]), 25.0)
    assert costs.tolist() == pytest.approx([0.0025, 0.0]) and nets.tolist() == pytest.approx([0.0075, -0.02])
