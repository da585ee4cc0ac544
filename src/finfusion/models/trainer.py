"""The one training loop for every torch model in finfusion.

Design (the contract every torch model follows):

* **Data** is any map-style `torch.utils.data.Dataset`. The trainer wraps it in a `DataLoader`
  with a seeded `torch.Generator` for shuffling and a `collate_fn` that turns a list of items
  into one batch: a `dict[str, Tensor]`. The target lives under the key ``"y"`` (absent at
  prediction time). `ArrayDataset` covers fixed-shape arrays and batches by fancy indexing
  (no per-item Python work); a text model brings its own dataset whose items hold token ids of
  varying length (or a cached encoder output) and a collate that pads them per batch.
  The collate is taken from `fit(..., collate_fn=)`, else the dataset's `collate` attribute,
  else torch's `default_collate`.
* **Modules** take the batch dict and return predictions: ``forward(batch) -> Tensor`` of shape
  (B,) for "mse"/"bce" or (B, C) logits for "cross_entropy". A module may instead return a dict
  ``{"pred": Tensor, "aux_loss": scalar Tensor}``; ``aux_loss`` is added to the training loss
  (e.g. a KL distribution-matching term of a mixture model).
* **Optimisation** is AdamW over the trainable parameters (``requires_grad``), with per-prefix
  learning rates (`TrainerConfig.param_group_lrs`, e.g. ``{"encoder.": 2e-5}`` for a fine-tuned
  text encoder), the explicit L2 term λ‖θ‖² of seed 000 eq. 19, gradient-norm clipping and a
  constant or linear (warm-up then decay) schedule stepped once per batch.
* **Hooks for wrappers**: ``fit(..., prepare=)`` receives ``(module, optimizer, loader)`` once
  before training and returns replacements — the signature of Opacus'
  ``PrivacyEngine.make_private``, so DP-SGD plugs in without a second loop.
* **Reproducible**: the fit runs inside ``torch.random.fork_rng`` seeded with `config.seed`, so
  dropout and shuffling depend only on the seed (bit-identical weights on CPU), and the caller's
  global RNG state is left untouched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler
from torch.utils.data._utils.collate import default_collate

import finfusion.progress as progress
from finfusion.errors import ConfigError

Batch = dict[str, torch.Tensor]
Collate = Callable[[list[Any]], Batch]
Prepare = Callable[[nn.Module, torch.optim.Optimizer, DataLoader], tuple[nn.Module, torch.optim.Optimizer, DataLoader]]
TARGET_KEY = "y"
LossName = Literal["mse", "cross_entropy", "bce"]


@dataclass(frozen=True)
class TrainerConfig:
    """Hyper-parameters of the training loop (defaults: seed 000 §3, AdamW 5e-4, wd 1e-4, clip 1.0).

    epochs                  passes over the training data.
    batch_size              samples per optimiser step.
    lr                      base learning rate of AdamW.
    weight_decay            AdamW's decoupled weight decay (eq. 24).
    l2                      λ of the explicit penalty λ·Σθ² added to the loss (eq. 19); 0 disables.
    grad_clip               max global L2 norm of the gradients; None disables.
    param_group_lrs         prefix -> lr; a parameter whose qualified name starts with a prefix
                            gets that lr (longest matching prefix wins).
    frozen_epochs           prefix -> n: parameters whose name starts with the prefix stay frozen
                            (no gradient, no update) for the first n epochs, then train; e.g.
                            ``{"encoder.": 5}`` fits the heads on a fixed text encoder before
                            fine-tuning it ("linear probing, then fine-tuning").
    early_stopping_patience stop after this many epochs without a better validation loss and
                            restore the best weights; needs a validation set. None disables.
                            Never stops before `patience` epochs after the last thaw.
    min_delta               an improvement must beat the best validation loss by more than this.
    shuffle                 reshuffle the training data every epoch.
    seed                    seeds shuffling and dropout.
    lr_schedule             "constant", or "linear": linear warm-up over `warmup_steps` optimiser
                            steps, then linear decay to 0 at the last step.
    warmup_steps            see lr_schedule.
    loss                    "mse" (regression), "cross_entropy" (logits (B, C), int targets) or
                            "bce" (logits (B,), float 0/1 targets).
    device                  torch device for training and prediction ("cpu", "cuda", "cuda:1").
    show_progress           a bar over epochs with the latest losses (`finfusion.progress`).
    """

    epochs: int = 15
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 1e-4
    l2: float = 0.0
    grad_clip: float | None = 1.0
    param_group_lrs: Mapping[str, float] = field(default_factory=dict)
    frozen_epochs: Mapping[str, int] = field(default_factory=dict)
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    shuffle: bool = True
    seed: int = 0
    lr_schedule: Literal["constant", "linear"] = "constant"
    warmup_steps: int = 0
    loss: LossName = "mse"
    device: str = "cpu"
    show_progress: bool = False

    def __post_init__(self) -> None:
        _check(self.epochs >= 0, "epochs", self.epochs, "an int >= 0")
        _check(self.batch_size >= 1, "batch_size", self.batch_size, "an int >= 1")
        _check(self.lr > 0, "lr", self.lr, "a float > 0")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a float >= 0")
        _check(self.l2 >= 0, "l2", self.l2, "a float >= 0")
        _check(self.grad_clip is None or self.grad_clip > 0, "grad_clip", self.grad_clip, "None or > 0")
        _check(
            self.early_stopping_patience is None or self.early_stopping_patience >= 1,
            "early_stopping_patience",
            self.early_stopping_patience,
            "None or an int >= 1",
        )
        _check(self.lr_schedule in ("constant", "linear"), "lr_schedule", self.lr_schedule, "'constant' or 'linear'")
        _check(self.warmup_steps >= 0, "warmup_steps", self.warmup_steps, "an int >= 0")
        _check(self.loss in ("mse", "cross_entropy", "bce"), "loss", self.loss, "'mse', 'cross_entropy' or 'bce'")
        for prefix, lr in self.param_group_lrs.items():
            _check(lr > 0, f"param_group_lrs[{prefix!r}]", lr, "a float > 0")
        for prefix, n in self.frozen_epochs.items():
            _check(isinstance(n, int) and n >= 0, f"frozen_epochs[{prefix!r}]", n, "an int >= 0")
        # Keep private sorted copies: later changes to the caller's dicts must not change the config.
        object.__setattr__(self, "param_group_lrs", dict(sorted(self.param_group_lrs.items())))
        object.__setattr__(self, "frozen_epochs", dict(sorted(self.frozen_epochs.items())))


@dataclass
class TrainHistory:
    """What one `Trainer.fit` did. Epoch indices are 0-based positions in the loss lists.

    train_loss    mean data loss (without the L2 term) per epoch, over the samples seen.
    valid_loss    mean data loss on the validation set after each epoch (empty without one).
    best_epoch    epoch with the lowest validation loss (None without a validation set).
    stopped_early True when early stopping ended training before `epochs`.
    n_steps       optimiser steps taken.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    n_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainHistory:
        return cls(**dict(data))


class ArrayDataset(Dataset):
    """Named arrays with a common first dimension n; items and batches are dicts of tensors.

    `ArrayDataset(x=X, y=y)` gives items ``{"x": X[i], "y": y[i]}``; the DataLoader fetches a
    whole batch at once through `__getitems__` (one fancy-index per array), and `collate`
    passes that ready batch through.
    """

    def __init__(self, **arrays: np.ndarray | torch.Tensor) -> None:
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.tensors = {k: torch.as_tensor(v) for k, v in arrays.items()}
        lengths = {k: len(v) for k, v in self.tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"ArrayDataset arrays must have the same length, got {lengths}")
        self._n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Batch:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {k: v[idx] for k, v in self.tensors.items()}

    @staticmethod
    def collate(batch: Batch | list[Batch]) -> Batch:
        return batch if isinstance(batch, dict) else default_collate(batch)


@dataclass(frozen=True)
class StepResult:
    """One backward pass: total loss (data + L2 + aux), data loss and the pre-clip gradient norm."""

    loss: float
    data_loss: float
    grad_norm: float


class Trainer:
    """Trains any `nn.Module` whose forward takes a batch dict (see the module docstring)."""

    def __init__(self, config: TrainerConfig | None = None) -> None:
        self.config = config or TrainerConfig()

    # -- building blocks (public so wrappers and tests can use them) -------------------------

    def make_optimizer(self, module: nn.Module) -> torch.optim.AdamW:
        """AdamW with one parameter group per learning rate (frozen parameters are left out)."""
        cfg = self.config
        groups: dict[float, list[nn.Parameter]] = {}
        for name, param in module.named_parameters():
            if param.requires_grad:
                groups.setdefault(self.lr_for(name), []).append(param)
        if not groups:
            raise ValueError(f"{type(module).__name__} has no trainable parameters")
        param_groups = [{"params": ps, "lr": lr} for lr, ps in groups.items()]
        return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_for(self, name: str) -> float:
        """The learning rate of the parameter called `name` (longest matching prefix wins)."""
        return _by_prefix(self.config.param_group_lrs, name, self.config.lr)

    def frozen_for(self, name: str) -> int:
        """Epochs the parameter called `name` stays frozen at the start (longest prefix wins)."""
        return _by_prefix(self.config.frozen_epochs, name, 0)

    def make_scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
        """Per-step multiplier of every group's lr: 1, or linear warm-up then linear decay to 0."""
        warmup = self.config.warmup_steps
        if self.config.lr_schedule == "constant":
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

        def linear(step: int) -> float:
            if step < warmup:
                return step / warmup
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, linear)

    def data_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch: MSE, cross-entropy on logits, or BCE on logits."""
        loss = self.config.loss
        if loss == "cross_entropy":
            if output.ndim != 2 or target.shape != output.shape[:1]:
                raise ValueError(f"cross_entropy needs logits (B, C) and targets (B,), got {tuple(output.shape)}, {tuple(target.shape)}")
            return nn.functional.cross_entropy(output, target.long())
        if output.shape != target.shape:
            raise ValueError(f"{loss} needs predictions and targets of equal shape, got {tuple(output.shape)} and {tuple(target.shape)}")
        if loss == "bce":
            return nn.functional.binary_cross_entropy_with_logits(output, target.to(output.dtype))
        return nn.functional.mse_loss(output, target.to(output.dtype))

    def l2_penalty(self, module: nn.Module) -> torch.Tensor:
        """λ·Σθ² over the trainable parameters (seed 000 eq. 19)."""
        params = [p for p in module.parameters() if p.requires_grad]
        return self.config.l2 * sum((p.pow(2).sum() for p in params), torch.zeros((), device=params[0].device))

    def compute_loss(self, module: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(total training loss, data loss) of one batch; total = data + L2 + the module's aux_loss."""
        pred, aux = _split_output(module(batch))
        data = self.data_loss(pred, batch[TARGET_KEY])
        total = data + aux if aux is not None else data
        if self.config.l2 > 0:
            total = total + self.l2_penalty(module)
        return total, data

    def backward(self, module: nn.Module, batch: Batch) -> StepResult:
        """Loss, backward pass and gradient clipping; leaves the clipped gradients in `.grad`."""
        total, data = self.compute_loss(module, batch)
        if total.requires_grad:  # False only while every trainable parameter is held frozen
            total.backward()
        params = [p for p in module.parameters() if p.grad is not None]
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else math.inf
        norm = nn.utils.clip_grad_norm_(params, max_norm) if params else torch.zeros(())
        return StepResult(float(total.detach()), float(data.detach()), float(norm))

    # -- the loop ----------------------------------------------------------------------------

    def fit(
        self,
        module: nn.Module,
        train: Dataset,
        valid: Dataset | None = None,
        *,
        collate_fn: Collate | None = None,
        prepare: Prepare | None = None,
    ) -> TrainHistory:
        """Train `module` in place on `train`; evaluate on `valid` after every epoch.

        With `early_stopping_patience`, training stops once the validation loss has not improved
        for that many epochs and the weights of the best epoch are restored.
        """
        cfg = self.config
        if cfg.early_stopping_patience is not None and valid is None:
            raise ConfigError("early_stopping_patience is set but no validation set was given: pass valid=")
        if len(train) == 0:
            raise ValueError("cannot train on an empty dataset")
        module.to(torch.device(cfg.device))
        history = TrainHistory()
        with self._seeded():
            generator = torch.Generator().manual_seed(cfg.seed)
            loader = self._loader(train, collate_fn, generator)
            optimizer = self.make_optimizer(module)
            staged = {p: self.frozen_for(n) for n, p in module.named_parameters() if p.requires_grad and self.frozen_for(n)}
            if prepare is not None:
                module, optimizer, loader = prepare(module, optimizer, loader)
            scheduler = self.make_scheduler(optimizer, total_steps=cfg.epochs * len(loader))
            best_state: dict[str, torch.Tensor] | None = None
            with (progress.bar(cfg.epochs, "epochs", unit="epoch", leave=True, enabled=cfg.show_progress) as bar,
                  _staged(staged) as thaw):
                for epoch in range(cfg.epochs):
                    thaw(epoch)
                    history.train_loss.append(self._train_epoch(module, loader, optimizer, scheduler, history))
                    if valid is not None:
                        history.valid_loss.append(self.evaluate(module, valid, collate_fn=collate_fn))
                    _advance(bar, train_loss=history.train_loss[-1], valid_loss=(history.valid_loss or [None])[-1])
                    improved, stop = self._track_best(history, epoch, patience_from=max(staged.values(), default=0))
                    if improved and cfg.early_stopping_patience is not None:
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
                    if stop:
                        history.stopped_early = True
                        break
            if best_state is not None:
                module.load_state_dict(best_state)
        module.eval()
        return history

    def _track_best(self, history: TrainHistory, epoch: int, patience_from: int = 0) -> tuple[bool, bool]:
        """(is `epoch` the best so far, should training stop) from the validation losses; the
        patience counts from the best epoch, or from `patience_from` (the last thaw) if later."""
        if not history.valid_loss:
            return False, False
        best = history.best_epoch
        if best is None or history.valid_loss[-1] < history.valid_loss[best] - self.config.min_delta:
            history.best_epoch = epoch
            return True, False
        patience = self.config.early_stopping_patience
        return False, patience is not None and epoch - max(best, patience_from - 1) >= patience

    def _train_epoch(self, module, loader, optimizer, scheduler, history: TrainHistory) -> float:
        module.train()
        total, count = 0.0, 0
        for batch in loader:
            batch = to_device(batch, self.config.device)
            optimizer.zero_grad(set_to_none=True)
            step = self.backward(module, batch)
            optimizer.step()
            scheduler.step()
            history.n_steps += 1
            n = len(batch[TARGET_KEY])
            if n:  # an empty batch (Poisson sampling under DP-SGD) has a NaN mean loss but still steps
                total, count = total + step.data_loss * n, count + n
        return total / max(count, 1)

    def evaluate(self, module: nn.Module, dataset: Dataset, *, collate_fn: Collate | None = None) -> float:
        """Mean data loss of `module` on `dataset` (eval mode, no gradients)."""
        preds, targets = [], []
        for pred, batch in _outputs(module, dataset, self._eval_batch_size, collate_fn, self.config.device):
            preds.append(pred)
            targets.append(batch[TARGET_KEY])
        with torch.no_grad():
            return float(self.data_loss(torch.cat(preds), torch.cat(targets)))

    def predict(self, module: nn.Module, dataset: Dataset, *, collate_fn: Collate | None = None) -> torch.Tensor:
        """`predict` with this trainer's device."""
        return predict(module, dataset, self._eval_batch_size, collate_fn=collate_fn, device=self.config.device)

    @property
    def _eval_batch_size(self) -> int:
        return max(self.config.batch_size, 256)

    def _loader(self, dataset: Dataset, collate_fn: Collate | None, generator: torch.Generator) -> DataLoader:
        sampler = RandomSampler(dataset, generator=generator) if self.config.shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=self.config.batch_size, sampler=sampler, collate_fn=_collate_of(dataset, collate_fn))

    @contextlib.contextmanager
    def _seeded(self) -> Iterator[None]:
        device = torch.device(self.config.device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type="cuda"):
            torch.manual_seed(self.config.seed)
            yield


def predict(
    module: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    *,
    collate_fn: Collate | None = None,
    device: str | torch.device = "cpu",
    take: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Outputs of `module` on `dataset` in order, concatenated on the CPU: (n,) or (n, C).
    take(module, batch): what to keep of each batch instead of the predictions (e.g. attention
    weights), concatenated along dim 0."""
    preds = [pred for pred, _ in _outputs(module, dataset, batch_size, collate_fn, device, take)]
    if not preds:
        raise ValueError("cannot predict on an empty dataset")
    return torch.cat(preds)


def _outputs(
    module: nn.Module, dataset: Dataset, batch_size: int, collate_fn: Collate | None, device: str | torch.device,
    take: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
) -> Iterator[tuple[torch.Tensor, Batch]]:
    """(CPU predictions, or `take(module, batch)`; CPU batch) per batch, in order, in eval mode
    without gradients."""
    was_training = module.training
    module.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_collate_of(dataset, collate_fn))
    try:
        with torch.no_grad():
            for batch in loader:
                on_device = to_device(batch, device)
                pred = take(module, on_device) if take is not None else _split_output(module(on_device))[0]
                yield pred.detach().cpu(), batch
    finally:
        module.train(was_training)


def to_device(batch: Batch, device: str | torch.device) -> Batch:
    """The batch with every tensor moved to `device` (other values unchanged)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _collate_of(dataset: Dataset, collate_fn: Collate | None) -> Collate:
    return collate_fn or getattr(dataset, "collate", None) or default_collate


def _by_prefix(table: Mapping[str, Any], name: str, default: Any) -> Any:
    matches = [p for p in table if name.startswith(p)]
    return table[max(matches, key=len)] if matches else default


@contextlib.contextmanager
def _staged(frozen_until: dict[nn.Parameter, int]) -> Iterator[Callable[[int], None]]:
    """Yields `thaw(epoch)`, which freezes each parameter before its epoch and trains it after;
    every parameter is left trainable again on exit."""

    def thaw(epoch: int) -> None:
        for param, until in frozen_until.items():
            param.requires_grad_(epoch >= until)

    try:
        yield thaw
    finally:
        for param in frozen_until:
            param.requires_grad_(True)


def _split_output(output: torch.Tensor | Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(output, torch.Tensor):
        return output, None
    if "pred" not in output:
        raise ValueError(f"a module returning a dict must put its predictions under 'pred', got keys {sorted(output)}")
    return output["pred"], output.get("aux_loss")


def _advance(bar: progress.Bar, **losses: float | None) -> None:
    """One more epoch on the epoch bar (`progress.bar`), showing the latest losses after it."""
    bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items() if v is not None})
    bar.update(1)


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"TrainerConfig.{name} must be {expected}, got {value!r}")
