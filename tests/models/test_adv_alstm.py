"""Adv-ALSTM (Feng et al., IJCAI 2019): the network's shapes, the adversarial perturbation worked out
by hand, beta=0 as plain ALSTM training, and learning the planted price signal of a StockNet-layout
fixture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from finfusion.errors import ConfigError, DataError
from finfusion.features.scalers import Scaler
from finfusion.models.adv_alstm import AdvALSTMPredictor, AttentiveLSTM
from finfusion.models.base import Samples
from finfusion.models.registry import make_predictor
from finfusion.models.trainer import Trainer, TrainerConfig
from tests.models.planted import planted_samples

FAST = {"hidden": 8, "epochs": 15, "batch_size": 32, "lr": 1e-2}


def window_samples(n: int = 160, T: int = 4, d: int = 3, n_classes: int = 2, seed: int = 0) -> Samples:
    """The class is set by the first feature of the last step (terciles for three classes)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, d)).astype(np.float32)
    cuts = np.quantile(X[:, -1, 0], np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.searchsorted(cuts, X[:, -1, 0]).astype(np.int64)
    index = pd.DataFrame({"date": pd.bdate_range("2020-01-01", periods=n), "ticker": "A"})
    return Samples(index=index, X=X, y=y, feature_names=tuple(f"f{i}" for i in range(d)), task="classification")


def linear_head(net: AttentiveLSTM, w: list[float], b: float = 0.0) -> None:
    with torch.no_grad():
        net.out.weight.copy_(torch.tensor([w]))
        net.out.bias.fill_(b)


def test_shapes_and_the_latent_representation():
    torch.manual_seed(0)
    net = AttentiveLSTM(d_in=3, mapping=5, hidden=4, n_classes=2)
    # the paper's parameters: mapping 3·5+5, LSTM 4·4·(5+4) + 2·4·4 (torch keeps two biases),
    # attention W_a, b_a 4·4+4 and u 4, prediction w, b 2·4+1
    assert sum(p.numel() for p in net.parameters()) == 20 + 176 + 20 + 4 + 9
    x = torch.randn(6, 7, 3)
    e, weights = net.latent(x)
    assert e.shape == (6, 8) and weights.shape == (6, 7)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6))
    h, _ = net.lstm(torch.tanh(net.mapping(x)))
    torch.testing.assert_close(e[:, :4], torch.einsum("bt,bth->bh", weights, h))  # attention-weighted sum
    torch.testing.assert_close(e[:, 4:], h[:, -1])  # the last hidden state
    net.eval()
    logits = net({"x": x, "y": torch.zeros(6)})  # eval mode: logits only, even with targets
    assert logits.shape == (6, 2)
    torch.testing.assert_close(logits[:, 0], torch.zeros(6))  # [0, s]: softmax gives σ(s)
    torch.testing.assert_close(logits[:, 1], net.out(e)[:, 0])
    net.train()
    out = net({"x": x, "y": torch.tensor([0, 1, 0, 1, 1, 0])})
    assert out["pred"].shape == (6, 2) and out["aux_loss"].shape == ()
    multi = AttentiveLSTM(d_in=3, mapping=3, hidden=4, n_classes=3, loss="cross_entropy").eval()
    assert multi({"x": x}).shape == (6, 3)
    with pytest.raises(ValueError, match="hinge loss needs two classes"):
        AttentiveLSTM(d_in=3, mapping=3, hidden=4, n_classes=3, loss="hinge")


def test_padding_rows_are_invisible_with_a_mask():
    """With `valid`, a window of T_i real rows reads as the T_i-step sequence of those rows alone."""
    torch.manual_seed(3)
    net = AttentiveLSTM(d_in=2, mapping=3, hidden=4, n_classes=2).eval()
    valid = torch.tensor([[True] * 5, [False, False, True, True, True], [False] * 4 + [True], [False] * 5])
    x = torch.randn(4, 5, 2)
    e, weights = net.latent(x, valid)
    torch.testing.assert_close(e[3], torch.zeros(8))  # no real row: e = 0, the score is the bias
    for i, start in enumerate((0, 2, 4)):
        alone, alone_weights = net.latent(x[i : i + 1, start:])
        torch.testing.assert_close(e[i : i + 1], alone)
        torch.testing.assert_close(weights[i, start:], alone_weights[0])
        assert torch.all(weights[i, :start] == 0)
    torch.testing.assert_close(net.latent(x, torch.ones(4, 5, dtype=torch.bool))[0], net.latent(x)[0])


def test_skip_padding_reads_the_price_ages():
    data = window_samples(T=4)
    ages = np.tile(np.array([4, 3, 2, 1]), (len(data), 1))
    ages[::3, :2] = 0  # a third of the windows start with two padding rows
    data = Samples(**{**vars(data), "extras": {"price_ages": ages}})
    model = make_predictor("adv_alstm", {**FAST, "epochs": 3, "skip_padding": True}).fit(data)
    noisy = data.X.copy()
    noisy[ages == 0] = 99.0  # padding rows are never read
    np.testing.assert_array_equal(model.predict_proba(data.with_arrays(X=noisy)), model.predict_proba(data))
    plain = make_predictor("adv_alstm", {**FAST, "epochs": 3}).fit(data)
    assert not np.array_equal(plain.predict_proba(data.with_arrays(X=noisy)), plain.predict_proba(data))
    with pytest.raises(DataError, match=r"skip_padding needs extras\['price_ages'\]"):
        model.predict(window_samples(T=4))
    with pytest.raises(DataError, match=r"extras\['price_ages'\] has shape \(160, 3\), the window needs \(160, 4\)"):
        model.predict(Samples(**{**vars(data), "extras": {"price_ages": ages[:, 1:]}}))
    assert model.empty_windows_ == 0 and plain.empty_windows_ == 0


def test_hinge_perturbation_has_norm_epsilon_and_opposes_the_label():
    # s = w·e with w = (0, 3, 0, 4), |w| = 5. The hinge's gradient w.r.t. e is -y·w/B where the
    # margin y·s < 1 and 0 elsewhere, so r_adv = -ε·y·w/5 there and 0 where the margin holds.
    net = AttentiveLSTM(d_in=1, mapping=1, hidden=2, n_classes=2, loss="hinge", epsilon=0.1)
    linear_head(net, [0.0, 3.0, 0.0, 4.0])
    e = torch.tensor([[0.0, 0.1, 0.0, 0.05],   # s = 0.5, y = +1: margin 0.5 < 1
                      [0.0, 0.4, 0.0, 0.2],    # s = 2.0, y = +1: margin 2 >= 1 -> no perturbation
                      [0.0, 0.04, 0.0, 0.02],  # s = 0.2, y = -1: margin -0.2 < 1
                      [1.0, -1.0, 2.0, 0.0]])  # s = -3,  y = -1: margin 3 >= 1 -> no perturbation
    y = torch.tensor([1, 1, 0, 0])
    r = net.perturbation(e, y)
    unit = torch.tensor([0.0, 0.6, 0.0, 0.8])
    torch.testing.assert_close(r, torch.stack([-0.1 * unit, 0 * unit, 0.1 * unit, 0 * unit]))
    assert not r.requires_grad  # a constant: no gradient flows through g
    # the adversarial score moves against the label by ε·|w| = 0.5 where the hinge is active
    torch.testing.assert_close(net.out(e + r)[:, 0], torch.tensor([0.0, 2.0, 0.7, -3.0]))


def test_cross_entropy_perturbation_follows_the_gradient():
    # two classes: logits [0, s], d loss / d e = (σ(s) - y)·w / B: every sample moves by ε along
    # -w/|w| when y = 1 and +w/|w| when y = 0.
    net = AttentiveLSTM(d_in=1, mapping=1, hidden=2, n_classes=2, loss="cross_entropy", epsilon=0.2)
    linear_head(net, [0.0, 3.0, 0.0, 4.0], b=0.3)
    e = torch.tensor([[0.0, 0.1, 0.0, 0.1], [0.0, 0.1, 0.0, 0.1], [1.0, -2.0, 0.0, 0.0]])  # s = 1, 1, -5.7
    r = net.perturbation(e, torch.tensor([1, 0, 0]))
    unit = torch.tensor([0.0, 0.6, 0.0, 0.8])
    torch.testing.assert_close(r, torch.stack([-0.2 * unit, 0.2 * unit, 0.2 * unit]))
    # three classes: g ∝ W^T (softmax(W e + b) - onehot(y)), normalised per sample
    multi = AttentiveLSTM(d_in=1, mapping=1, hidden=2, n_classes=3, loss="cross_entropy", epsilon=0.3)
    W, b = multi.out.weight.detach(), multi.out.bias.detach()
    e = torch.randn(5, 4)
    y = torch.tensor([0, 1, 2, 1, 0])
    g = (torch.softmax(e @ W.T + b, dim=1) - torch.eye(3)[y]) @ W
    r = multi.perturbation(e, y)
    torch.testing.assert_close(r, 0.3 * g / g.norm(dim=1, keepdim=True))
    torch.testing.assert_close(r.norm(dim=1), torch.full((5,), 0.3))


def hand_perturbation(net: AttentiveLSTM, e: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """r_adv from the closed forms above, built from detached values (a constant)."""
    e, W, b = e.detach(), net.out.weight.detach(), net.out.bias.detach()
    if net.loss == "hinge":  # -y±·w/|w| where the margin y±·s < 1, else 0
        sign = 2.0 * y - 1.0
        active = (sign * (e @ W.T + b)[:, 0] < 1).float()
        return -net.epsilon * (active * sign)[:, None] * W / W.norm()
    g = (torch.softmax(e @ W.T + b, dim=1) - torch.eye(net.n_classes)[y]) @ W  # C > 2 scores
    return net.epsilon * g / g.norm(dim=1, keepdim=True)


@pytest.mark.parametrize(("loss", "n_classes"), [("hinge", 2), ("cross_entropy", 3)])
def test_training_objective_by_hand_with_a_constant_perturbation(loss, n_classes):
    """aux_loss and its gradients equal the hand-built objective in which r_adv is a constant: no
    gradient flows through g (for three classes g depends on W, so a graph through it would show;
    for one score it would not, as w is orthogonal to the Jacobian of w/|w|)."""
    torch.manual_seed(1)
    net = AttentiveLSTM(d_in=3, mapping=3, hidden=4, n_classes=n_classes, loss=loss, alpha=0.7, beta=0.4, epsilon=0.3)
    batch = {"x": torch.randn(16, 5, 3), "y": torch.randint(0, n_classes, (16,))}
    out = net.train()(batch)
    assert out["pred"].requires_grad == (loss == "cross_entropy")  # hinge: the trainer's CE is only monitored
    out["aux_loss"].backward()
    auto = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    e, _ = net.latent(batch["x"])
    r = hand_perturbation(net, e, batch["y"])
    l2 = 0.7 * 0.5 * (net.out.weight.pow(2).sum() + net.out.bias.pow(2).sum())
    if loss == "hinge":
        sign = 2.0 * batch["y"] - 1.0
        s, s_adv = net.out(e)[:, 0], net.out(e + r)[:, 0]
        hand = torch.relu(1 - sign * s).mean() + 0.4 * torch.relu(1 - sign * s_adv).mean() + l2
    else:  # the clean cross-entropy is the trainer's data loss, not part of aux_loss
        hand = 0.4 * torch.nn.functional.cross_entropy(net.out(e + r), batch["y"]) + l2
    torch.testing.assert_close(out["aux_loss"], hand)
    hand.backward()
    for a, h in zip(auto, (p.grad for p in net.parameters())):
        torch.testing.assert_close(a, h)


def test_beta_zero_is_plain_alstm_training(monkeypatch):
    torch.manual_seed(2)
    net = AttentiveLSTM(d_in=3, mapping=3, hidden=4, n_classes=2, loss="hinge", alpha=0.5, beta=0.0, epsilon=0.3)
    batch = {"x": torch.randn(12, 4, 3), "y": torch.randint(0, 2, (12,))}

    def refuse(*args):
        raise AssertionError("beta=0 must not compute an adversarial example")

    monkeypatch.setattr(net, "perturbation", refuse)
    total, monitored = Trainer(TrainerConfig(loss="cross_entropy")).compute_loss(net.train(), batch)
    total.backward()
    trained = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    e, _ = net.latent(batch["x"])
    plain = torch.relu(1 - (2.0 * batch["y"] - 1.0) * net.out(e)[:, 0]).mean() + 0.25 * (
        net.out.weight.pow(2).sum() + net.out.bias.pow(2).sum())
    torch.testing.assert_close(total - monitored, plain)  # the ALSTM objective: hinge + L2, nothing else
    plain.backward()  # and the trainer's monitored cross-entropy adds no gradient
    for t, p in zip(trained, net.parameters()):
        torch.testing.assert_close(t, p.grad)
    # fitted: with beta=0 epsilon is irrelevant; with beta>0 it changes the fit
    data = window_samples()

    def proba(**params):
        return make_predictor("adv_alstm", {**FAST, **params}).fit(data).predict_proba(data)

    np.testing.assert_array_equal(proba(beta=0.0, epsilon=0.01), proba(beta=0.0, epsilon=0.5))
    assert not np.allclose(proba(beta=1.0, epsilon=0.01), proba(beta=1.0, epsilon=0.5))


def test_probabilities_are_the_sigmoid_of_the_score():
    data = window_samples()
    model = make_predictor("adv_alstm", FAST).fit(data)
    with torch.no_grad():
        e, _ = model.module_.latent(torch.as_tensor(data.X))
        score = model.module_.out(e)[:, 0].double()
    np.testing.assert_allclose(model.predict_proba(data)[:, 1], torch.sigmoid(score).numpy(), atol=1e-6)
    np.testing.assert_array_equal(model.predict(data), model.classes_[(score > 0).long().numpy()])


def test_classes_loss_and_input_checks():
    three = window_samples(n_classes=3)
    with pytest.raises(DataError, match="loss='hinge' needs two classes.*use loss='cross_entropy'"):
        make_predictor("adv_alstm", {**FAST, "epochs": 1}).fit(three)
    model = make_predictor("adv_alstm", {**FAST, "loss": "cross_entropy", "epochs": 1}).fit(three)
    assert model.predict_proba(three).shape == (len(three), 3)
    with pytest.raises(ConfigError, match="model 'adv_alstm' parameter 'epsilon'"):
        make_predictor("adv_alstm", {"epsilon": -0.1})
    with pytest.raises(ValueError, match="loss must be 'hinge' or 'cross_entropy'"):
        AdvALSTMPredictor(loss="log", epochs=1).fit(window_samples())
    with pytest.raises(ValueError, match="hidden must be an int >= 1"):
        AdvALSTMPredictor(hidden=0, epochs=1).fit(window_samples())
    flat = window_samples(T=1)  # a 2-D X is a window of one step
    a = make_predictor("adv_alstm", {**FAST, "epochs": 2}).fit(flat).predict_proba(flat)
    b = make_predictor("adv_alstm", {**FAST, "epochs": 2}).fit(flat.with_arrays(X=flat.X[:, 0])).predict_proba(
        flat.with_arrays(X=flat.X[:, 0]))
    np.testing.assert_array_equal(a, b)
    assert make_predictor("adv_alstm", {**FAST, "mapping": 6, "epochs": 1}).fit(flat).module_.mapping.out_features == 6


def test_a_warm_refit_takes_the_new_adversarial_settings():
    """The released code's two stages: ALSTM first, then adversarial fine-tuning from it."""
    data = window_samples()
    model = make_predictor("adv_alstm", {**FAST, "beta": 0.0, "warm_start": True, "warm_epochs": 3}).fit(data)
    alstm = model.predict_proba(data)
    model.set_params(beta=0.5, epsilon=0.2)
    model.fit(data)
    assert (model.module_.beta, model.module_.epsilon) == (0.5, 0.2)
    assert not np.array_equal(model.predict_proba(data), alstm)
    model.set_params(hidden=4)
    with pytest.raises(ValueError, match="architecture parameters changed"):
        model.fit(data)


@pytest.mark.parametrize("skip_padding", [False, True])
def test_learns_the_planted_price_signal(tmp_path, skip_padding):
    """signal="prices": the `open` of the window's last row is +-0.015 before a rise / fall of d
    (noise sd 0.003). With the paper's settings on z-scored features (fit on train only) the
    model separates it on dev (1.0 on fixture seeds 0-2 × model seeds 0-2 when calibrated);
    the dev majority class is 0.55."""
    train, dev = planted_samples(tmp_path, signal="prices")
    scaler = Scaler("zscore").fit(train.X)
    train, dev = (s.with_arrays(X=scaler.transform(s.X).astype(np.float32)) for s in (train, dev))
    assert (train.extras["price_ages"] == 0).any()  # windows with padding rows (Monday targets, holidays)
    model = make_predictor("adv_alstm", {"skip_padding": skip_padding}).fit(train)  # the paper's defaults: U=4, β=0.01, ε=0.05, α=1
    majority = max(np.mean(dev.y == c) for c in np.unique(train.y))
    accuracy = np.mean(model.predict(dev) == dev.y)
    assert majority < 0.6 and accuracy > 0.9, (accuracy, majority)
    assert model.empty_windows_ == (4 if skip_padding else 0)  # each ticker's first target: no price row yet
    scrambled = dev.X.copy()  # without the planted cell the model is back near chance
    col = dev.feature_names.index("open")
    scrambled[:, -1, col] = np.random.default_rng(0).permutation(scrambled[:, -1, col])
    assert np.mean(model.predict(dev.with_arrays(X=scrambled)) == dev.y) < 0.7
