"""The shared trainer: early stopping, parameter groups, L2, clipping, schedules, determinism, batches."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from finfusion.errors import ConfigError
from finfusion.models.trainer import ArrayDataset, Trainer, TrainerConfig, predict


class Linear1(nn.Module):
    """y_hat = w·x (no bias), w starts at 0: batch["x"] (B, 1) -> (B,)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1, bias=False)
        nn.init.zeros_(self.lin.weight)

    def forward(self, batch):
        return self.lin(batch["x"])[:, 0]


class TwoPart(nn.Module):
    """An "encoder" and a "head", as a text model has; one encoder tensor is frozen."""

    def __init__(self, d: int = 3) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, 4), nn.ReLU())
        self.encoder.add_module("special", nn.Linear(4, 4))
        self.encoder.frozen = nn.Parameter(torch.ones(2), requires_grad=False)
        self.head = nn.Linear(4, 1)
        self.dropout = nn.Dropout(0.2)

    def forward(self, batch):
        h = self.encoder.special(self.encoder(batch["x"]))  # (B, d) -> (B, 4)
        return self.head(self.dropout(h))[:, 0]  # (B,)


def _line(n: int, slope: float, seed: int = 0) -> ArrayDataset:
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed))
    return ArrayDataset(x=x, y=slope * x[:, 0])


def _regression(n: int = 64, d: int = 3, seed: int = 0) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return ArrayDataset(x=x, y=x @ torch.linspace(1, -1, d) + 0.1 * torch.randn(n, generator=g))


def test_early_stopping_restores_the_best_weights():
    # Training pulls w from 0 towards 1, the validation targets have slope 0.3: the validation
    # loss falls while w < 0.3 and rises afterwards.
    train, valid = _line(64, slope=1.0), _line(64, slope=0.3, seed=1)
    trainer = Trainer(TrainerConfig(epochs=50, batch_size=16, lr=0.02, early_stopping_patience=3))
    module = Linear1()
    history = trainer.fit(module, train, valid)
    best = history.best_epoch
    assert history.stopped_early and 0 < best < len(history.valid_loss) - 1
    assert len(history.valid_loss) == best + 1 + 3 == len(history.train_loss)
    assert min(history.valid_loss) == history.valid_loss[best] < history.valid_loss[-1]
    assert trainer.evaluate(module, valid) == pytest.approx(history.valid_loss[best], rel=1e-6)
    assert 0.1 < module.lin.weight.item() < 0.5


def test_without_early_stopping_the_last_weights_are_kept():
    train, valid = _line(64, slope=1.0), _line(64, slope=0.3, seed=1)
    trainer = Trainer(TrainerConfig(epochs=12, batch_size=16, lr=0.02))
    module = Linear1()
    history = trainer.fit(module, train, valid)
    assert not history.stopped_early and len(history.valid_loss) == 12
    assert trainer.evaluate(module, valid) == pytest.approx(history.valid_loss[-1], rel=1e-6)


def test_early_stopping_needs_a_validation_set():
    with pytest.raises(ConfigError, match="valid"):
        Trainer(TrainerConfig(early_stopping_patience=2)).fit(Linear1(), _line(8, 1.0))


def test_param_group_lrs_longest_prefix_wins_and_frozen_params_are_left_out():
    module = TwoPart()
    cfg = TrainerConfig(lr=1e-3, param_group_lrs={"encoder.": 2e-5, "encoder.special.": 1e-4})
    optimizer = Trainer(cfg).make_optimizer(module)
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    expected = {
        "encoder.0.weight": 2e-5,
        "encoder.0.bias": 2e-5,
        "encoder.special.weight": 1e-4,
        "encoder.special.bias": 1e-4,
        "head.weight": 1e-3,
        "head.bias": 1e-3,
    }
    assert {name: lr_of[id(p)] for name, p in module.named_parameters() if id(p) in lr_of} == expected
    assert id(module.encoder.frozen) not in lr_of
    assert all(g["weight_decay"] == cfg.weight_decay for g in optimizer.param_groups)


def test_fit_trains_with_the_param_groups_and_calls_prepare_once():
    seen = []

    def prepare(module, optimizer, loader):
        seen.append(sorted(g["lr"] for g in optimizer.param_groups))
        return module, optimizer, loader

    module = TwoPart()
    frozen_before = module.encoder.frozen.detach().clone()
    cfg = TrainerConfig(epochs=2, param_group_lrs={"encoder.": 2e-5})
    Trainer(cfg).fit(module, _regression(), prepare=prepare)
    assert seen == [[2e-5, 5e-4]]
    assert torch.equal(module.encoder.frozen, frozen_before)


def test_frozen_epochs_hold_a_prefix_fixed_then_train_it():
    module = TwoPart()
    snapshots = []

    class Watch(nn.Module):  # records the encoder weights at the start of every epoch's first batch
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, batch):
            if self.training and batch["x"].shape[0] == 64:
                snapshots.append((self.inner.encoder[0].weight.detach().clone(),
                                  self.inner.encoder[0].weight.requires_grad, self.inner.head.weight.detach().clone()))
            return self.inner(batch)

    cfg = TrainerConfig(epochs=4, batch_size=64, lr=1e-2, frozen_epochs={"inner.encoder.": 2})
    Trainer(cfg).fit(Watch(), _regression(n=64))
    (w0, g0, h0), (w1, g1, h1), (w2, g2, _), (w3, _, _) = snapshots
    assert torch.equal(w0, w1) and torch.equal(w1, w2)  # epochs 0 and 1: no update
    assert not torch.equal(h0, h1)  # ... while the head trains
    assert (g0, g1, g2) == (False, False, True)
    assert not torch.equal(w2, w3)  # epoch 2 on: the encoder trains
    assert all(p.requires_grad for n, p in module.named_parameters() if n != "encoder.frozen")
    assert not module.encoder.frozen.requires_grad


def test_early_stopping_waits_for_the_thaw():
    # The validation loss only rises (w moves away from the validation slope of 0), so without
    # frozen epochs training stops after `patience` epochs; with them, `patience` after the thaw.
    train, valid = _line(64, slope=1.0), _line(64, slope=0.0, seed=1)
    cfg = TrainerConfig(epochs=30, batch_size=16, lr=0.02, early_stopping_patience=2)
    assert len(Trainer(cfg).fit(Linear1(), train, valid).valid_loss) == 3
    thawed = replace(cfg, frozen_epochs={"lin.": 5})
    history = Trainer(thawed).fit(Linear1(), train, valid)
    assert len(history.valid_loss) == 5 + 2 and history.best_epoch == 0


def test_l2_term_adds_lambda_times_sum_of_squares():
    module, batch = TwoPart().eval(), _regression().__getitems__(list(range(16)))
    total0, data0 = (t.item() for t in Trainer(TrainerConfig(l2=0.0)).compute_loss(module, batch))
    total1, data1 = (t.item() for t in Trainer(TrainerConfig(l2=0.1)).compute_loss(module, batch))
    sum_sq = sum(float((p.detach() ** 2).sum()) for p in module.parameters() if p.requires_grad)
    assert data0 == data1 == total0
    assert total1 - total0 == pytest.approx(0.1 * sum_sq, rel=1e-5)


def test_aux_loss_of_a_dict_output_is_added():
    class WithAux(Linear1):
        def forward(self, batch):
            return {"pred": super().forward(batch), "aux_loss": torch.tensor(0.25)}

    batch = _line(8, 1.0).__getitems__(list(range(8)))
    total, data = Trainer().compute_loss(WithAux(), batch)
    assert total.item() == pytest.approx(data.item() + 0.25)


@pytest.mark.parametrize("clip", [1.0, None])
def test_gradient_clipping_bounds_the_global_norm(clip):
    module = TwoPart()
    batch = _regression().__getitems__(list(range(16)))
    batch["y"] = batch["y"] * 1e3  # a huge error makes a huge gradient
    step = Trainer(TrainerConfig(grad_clip=clip)).backward(module, batch)
    norm = math.sqrt(sum(float((p.grad**2).sum()) for p in module.parameters() if p.grad is not None))
    assert step.grad_norm > 10
    if clip is None:
        assert norm == pytest.approx(step.grad_norm, rel=1e-5)
    else:
        assert norm <= clip + 1e-5


def test_linear_schedule_warms_up_then_decays_to_zero():
    module = TwoPart()
    trainer = Trainer(TrainerConfig(lr=0.1, lr_schedule="linear", warmup_steps=2, param_group_lrs={"encoder.": 0.01}))
    optimizer = trainer.make_optimizer(module)
    scheduler = trainer.make_scheduler(optimizer, total_steps=10)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    factors = [0.0, 0.5] + [(10 - s) / 8 for s in range(2, 10)]
    by_base = {round(lrs, 6): i for i, lrs in enumerate(g["initial_lr"] for g in optimizer.param_groups)}
    for base, i in by_base.items():
        assert [lrs[i] for lrs in seen] == pytest.approx([base * f for f in factors])


def test_constant_schedule_keeps_the_lr():
    history = Trainer(TrainerConfig(epochs=3, batch_size=16)).fit(TwoPart(), _regression(n=40))
    assert history.n_steps == 3 * 3


def test_same_seed_gives_bit_identical_weights():
    def train(seed):
        torch.manual_seed(123)  # the module's init is the caller's business
        module = TwoPart()
        Trainer(TrainerConfig(epochs=3, seed=seed)).fit(module, _regression())
        return module.state_dict()

    a, b, c = train(0), train(0), train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fit_leaves_the_global_torch_rng_alone():
    module = TwoPart()
    before = torch.get_rng_state()
    Trainer(TrainerConfig(epochs=1)).fit(module, _regression())
    assert torch.equal(torch.get_rng_state(), before)


class Tokens(Dataset):
    """Text-like items: token ids of varying length; collate pads them per batch."""

    def __init__(self, n: int = 48, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            ids = rng.integers(1, 10, size=rng.integers(1, 7))
            self.items.append({"ids": torch.as_tensor(ids), "y": torch.tensor(float((ids >= 5).mean()))})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

    @staticmethod
    def collate(items):
        ids = nn.utils.rnn.pad_sequence([it["ids"] for it in items], batch_first=True)  # (B, T), 0 = pad
        batch = {"ids": ids, "mask": ids != 0}
        if "y" in items[0]:
            batch["y"] = torch.stack([it["y"] for it in items])
        return batch


class BagOfTokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 8, padding_idx=0)
        self.out = nn.Linear(8, 1)

    def forward(self, batch):
        e = self.emb(batch["ids"])  # (B, T, 8)
        m = batch["mask"].unsqueeze(-1).float()  # (B, T, 1)
        return self.out((e * m).sum(1) / m.sum(1))[:, 0]  # (B,)


def test_variable_length_batches_with_the_dataset_collate():
    data = Tokens()
    module = BagOfTokens()
    history = Trainer(TrainerConfig(epochs=30, batch_size=8, lr=1e-2)).fit(module, data, Tokens(seed=1))
    assert history.valid_loss[-1] < history.valid_loss[0]
    assert predict(module, data, batch_size=5).shape == (len(data),)


def test_classification_losses():
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    labels = (x[:, 0] > 0).long()
    cfg = TrainerConfig(epochs=10, lr=0.05)
    ce = Trainer(replace(cfg, loss="cross_entropy"))
    logits_model = _Logits(3, 2)
    h = ce.fit(logits_model, ArrayDataset(x=x, y=labels), ArrayDataset(x=x, y=labels))
    assert h.valid_loss[-1] < h.valid_loss[0]
    assert predict(logits_model, ArrayDataset(x=x)).shape == (40, 2)
    bce = Trainer(replace(cfg, loss="bce"))
    h = bce.fit(_Logits(3, None), ArrayDataset(x=x, y=labels.float()), ArrayDataset(x=x, y=labels.float()))
    assert h.valid_loss[-1] < h.valid_loss[0]


class _Logits(nn.Module):
    def __init__(self, d: int, n_classes: int | None) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.lin = nn.Linear(d, n_classes or 1)

    def forward(self, batch):
        out = self.lin(batch["x"])
        return out if self.n_classes else out[:, 0]


def test_shape_mismatch_is_an_error_not_a_broadcast():
    class Column(Linear1):
        def forward(self, batch):
            return self.lin(batch["x"])  # (B, 1): wrong

    with pytest.raises(ValueError, match="equal shape"):
        Trainer(TrainerConfig(epochs=1)).fit(Column(), _line(8, 1.0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("loss", "mae"), ("epochs", -1), ("grad_clip", 0.0), ("lr_schedule", "cosine"), ("early_stopping_patience", 0),
     ("frozen_epochs", {"encoder.": -1})],
)
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainerConfig(**{field: value})


def test_history_round_trips_through_a_dict():
    history = Trainer(TrainerConfig(epochs=2)).fit(Linear1(), _line(8, 1.0), _line(8, 1.0))
    assert type(history).from_dict(history.to_dict()) == history


def test_progress_bar_shows_the_losses(capsys):
    Trainer(TrainerConfig(epochs=2, show_progress=True)).fit(Linear1(), _line(8, 1.0), _line(8, 1.0))
    err = capsys.readouterr().err
    assert "epochs" in err and "valid_loss" in err
