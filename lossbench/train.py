"""One trial: one loss x one seed, trained from a shared start on a shared batch sequence.

Identical seeds mean identical conditions: for a given seed every loss starts from the same
weights (the seeded initialisation, or the run's pretrained checkpoint) and sees exactly the same
patches in the same order with the same augmentations, because the batch generator is seeded
from the seed alone. Only the loss differs. A trial checkpoints every ``checkpoint_every``
iterations (weights, optimiser, generator states, history) and resumes from there.
"""

from __future__ import annotations

import csv
import hashlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lossbench._files import write_atomic
from lossbench.batches import Batches, Maps
from lossbench.config import Arithmetic, Config
from lossbench.data.nnunet import input_channels
from lossbench.layout import TrialLayout
from lossbench.losses.variants import create_variant
from lossbench.models import VNet
from lossbench.probe import PROBE_COLUMNS, gradient_shares

__all__ = [
    "NonFiniteLossError",
    "autocast_dtype",
    "build_model",
    "load_matching",
    "memory_format",
    "train_trial",
]

_DTYPES: dict[Arithmetic, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


class NonFiniteLossError(RuntimeError):
    """A loss value became NaN or infinite during training."""


def build_model(config: Config, seed: int) -> VNet:
    """The run's V-Net with weights initialised from ``seed`` (same seed, same weights), taking
    the data's channels (:func:`lossbench.data.nnunet.input_channels`).

    Example:
        >>> from lossbench.config import preset
        >>> a, b = build_model(preset("quick"), 0), build_model(preset("quick"), 0)
        >>> all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        True
    """
    channels = input_channels(config.data.source, config.data.difference_channel)
    torch.manual_seed(seed)
    return VNet(in_channels=channels, width=config.model.width, levels=config.model.levels)


def autocast_dtype(precision: Arithmetic) -> torch.dtype | None:
    """The autocast dtype of the network's forward pass for a resolved precision (see
    :func:`lossbench.config.resolve_precision`), or None for float32 (no autocast).

    Example:
        >>> autocast_dtype("bf16"), autocast_dtype("fp32")
        (torch.bfloat16, None)
    """
    return _DTYPES[precision]


def load_matching(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load the entries of ``state`` whose names and shapes match ``model``'s; return the names
    of the model's entries that were left as they were.

    Example:
        >>> net = torch.nn.Linear(2, 2)
        >>> load_matching(net, {"weight": torch.zeros(2, 2), "bias": torch.zeros(3)})
        ['bias']
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(usable)
    model.load_state_dict(own)
    return sorted(k for k in own if k not in usable)


def _batch_hash(images: np.ndarray, labels: np.ndarray) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(images).data)  # a view: no copy of the batch
    digest.update(np.ascontiguousarray(labels).data)
    return digest.hexdigest()[:12]


def train_trial(
    loss_name: str,
    seed: int,
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    config: Config,
    trial: TrialLayout,
    device: torch.device,
    init_state: dict[str, torch.Tensor] | None = None,
    iterations: int | None = None,
    lr: float | None = None,
    progress: bool = True,
    precision: Arithmetic = "fp32",
) -> tuple[VNet, float]:
    """Train one trial and return ``(model, training seconds)``.

    Writes ``history.csv`` (iteration, loss, seconds, batch hash, attempt, and the gradient
    shares of the probed steps, :mod:`lossbench.probe`) and
    ``checkpoint.pt``, renamed into place so that an interruption (even SIGKILL) or a full disk
    leaves the previous checkpoint whole; an existing checkpoint is resumed.

    Args:
        loss_name: a registered loss or a variant of one (``hytver(beta=0.8)``).
        seed: drives the initial weights (when ``init_state`` is None) and the batch sequence.
        cases: prepared ``(image (3, x, y, z), label (x, y, z))`` training pairs.
        config: the run's configuration (``train`` and ``model`` sections).
        trial: the trial's folder (:class:`lossbench.layout.TrialLayout`).
        device: where to train.
        init_state: starting weights shared by every loss (e.g. the pretrained checkpoint).
        iterations, lr: override ``config.train.iterations`` / ``lr`` (the pretraining stage).
        progress: show a progress bar.
        precision: the run's resolved arithmetic (``fp32``, ``bf16`` or ``fp16``).

    Raises:
        NonFiniteLossError: the loss became NaN or inf (the message names iteration and loss).
    """
    iterations = config.train.iterations if iterations is None else iterations
    dtype = autocast_dtype(precision)
    state = _start(config, seed, init_state, trial, device, lr, dtype)
    loss_fn = create_variant(loss_name)  # a registered name or a variant, `hytver(beta=0.8)`
    set_progress = getattr(loss_fn, "set_progress", None)  # optional: losses that follow training
    clock, before = time.perf_counter(), state.elapsed
    every, count = config.train.checkpoint_every, iterations - state.iteration
    with Batches(cases, config.train, state.rng, count, loss_fn) as batches:
        for iteration in _bar(state, iterations, f"{loss_name} seed {seed}", progress):
            if callable(set_progress):
                set_progress(iteration / iterations)
            images, labels, maps, state.rng_state = batches.next()
            probe = bool(config.train.probe_every) and iteration % config.train.probe_every == 0
            value, shares = _step(state, loss_fn, (images, labels, maps), device, dtype, probe)
            if not np.isfinite(value):
                raise NonFiniteLossError(
                    f"loss {loss_name!r} became {value} at iteration {iteration + 1} (seed {seed})"
                )
            state.iteration, state.elapsed = iteration + 1, before + time.perf_counter() - clock
            state.record(value, _batch_hash(images, labels), shares)
            if state.iteration % every == 0 or state.iteration == iterations:
                state.save(trial.checkpoint)
    _write_history(state.history, trial.history)
    return state.model, before + time.perf_counter() - clock


def _start(
    config: Config,
    seed: int,
    init_state: dict[str, torch.Tensor] | None,
    trial: TrialLayout,
    device: torch.device,
    lr: float | None,
    dtype: torch.dtype | None,
) -> _State:
    """A trial's starting state: the seeded (or given) weights, Adam, the loss scaler and the
    batch generator, or the state of its checkpoint when it resumes; the model in training mode."""
    trial.folder.mkdir(parents=True, exist_ok=True)
    model = _initial_model(config, seed, init_state, trial, device)
    params = [p for p in model.parameters() if p.requires_grad]
    state = _State(
        model=model,
        optimizer=torch.optim.Adam(params, lr=config.train.lr if lr is None else lr),
        # fp16 gradients underflow without loss scaling; bf16 has float32's exponent range
        scaler=torch.amp.GradScaler(device.type, enabled=dtype is torch.float16),
        rng=np.random.default_rng([seed, 7]),
    )
    if trial.checkpoint.exists():
        state.restore(trial.checkpoint, device)
    state.model.train()
    return state


def _bar(state: _State, iterations: int, name: str, progress: bool) -> tqdm:
    return tqdm(
        range(state.iteration, iterations),
        desc=name,
        unit="it",
        leave=False,
        disable=not progress,
        initial=state.iteration,
        total=iterations,
    )


def _initial_model(
    config: Config,
    seed: int,
    init_state: dict[str, torch.Tensor] | None,
    trial: TrialLayout,
    device: torch.device,
) -> VNet:
    """The seeded V-Net, loaded with ``init_state`` where names and shapes match."""
    model = build_model(config, seed)
    if init_state is not None:
        skipped = load_matching(model, init_state)
        if skipped:  # a state dict from another architecture: say what kept its initial value
            trial.init_skipped.write_text("\n".join(skipped) + "\n")
            warnings.warn(
                f"{len(skipped)} of the model's weights had no matching entry in the initial "
                f"state and keep their seeded values (listed in {trial.init_skipped})",
                stacklevel=3,
            )
        if config.train.freeze_encoder:
            for p in model.encoder_parameters():
                p.requires_grad_(False)
    return model.to(device).to(memory_format=memory_format(device))  # type: ignore[call-overload]


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout of the network's 5D tensors on ``device``: channels_last_3d on CUDA, where
    cuDNN's fast 3D convolution kernels take it; the default layout on the CPU, where
    channels_last_3d gave no measurable gain for the V-Net (see the README).

    Example:
        >>> memory_format(torch.device("cpu"))
        torch.contiguous_format
    """
    return torch.channels_last_3d if device.type == "cuda" else torch.contiguous_format


@dataclass
class _State:
    """Everything a resumed trial needs to continue exactly where it stopped."""

    model: VNet
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    rng: np.random.Generator
    iteration: int = 0
    elapsed: float = 0.0
    attempt: int = 1  # 1 for the first start, one more each time the trial resumes
    rng_state: dict[str, Any] = field(default_factory=dict)  # after the last batch trained on
    history: list[list[Any]] = field(default_factory=list)

    def restore(self, path: Path, device: torch.device) -> None:
        saved = torch.load(path, map_location=device, weights_only=False)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.rng.bit_generator.state = self.rng_state = saved["rng"]
        if saved.get("scaler"):  # the AMP loss scale (empty when the trial ran without AMP)
            self.scaler.load_state_dict(saved["scaler"])
        self.iteration, self.elapsed = saved["iteration"], saved["elapsed"]
        self.history = saved["history"]
        self.attempt = saved.get("attempt", 1) + 1

    def record(self, value: float, batch_hash: str, shares: dict[str, float] | None) -> None:
        """Append this iteration's row to the history, with its gradient shares if probed."""
        probed = [shares[c] for c in PROBE_COLUMNS] if shares else [""] * len(PROBE_COLUMNS)
        self.history.append(
            [self.iteration, value, round(self.elapsed, 3), batch_hash, self.attempt, *probed]
        )

    def save(self, path: Path) -> None:
        """Write beside ``path`` and rename: a failed write (a full disk, a kill) leaves the
        previous checkpoint whole and no debris."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.rng_state,
            "iteration": self.iteration,
            "elapsed": self.elapsed,
            "history": self.history,
            "attempt": self.attempt,
        }
        write_atomic(path, lambda partial: torch.save(state, partial))


def _step(
    state: _State,
    loss_fn: torch.nn.Module,
    batch: tuple[np.ndarray, np.ndarray, Maps],
    device: torch.device,
    dtype: torch.dtype | None,
    probe: bool = False,
) -> tuple[float, dict[str, float] | None]:
    """One optimiser step on ``(images, labels, target maps)``, the network's forward pass
    autocast to ``dtype`` (None: float32) and the loss in float32; returns the loss value and,
    when ``probe``, the gradient shares of :func:`lossbench.probe.gradient_shares` (the logits'
    gradient kept from the step's own backward pass; the update is the same).

    A non-finite loss returns before the update, so the weights stay those of the last step.
    """
    images, labels, maps = batch
    x = torch.from_numpy(images).to(device, non_blocking=True, memory_format=memory_format(device))
    y = torch.from_numpy(labels).to(device, non_blocking=True)
    state.optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        logits = state.model(x).float()
    if probe:
        logits.retain_grad()
    if maps is None:
        loss = loss_fn(logits, y)
    else:
        loss = loss_fn(logits, y, {k: m.to(device, non_blocking=True) for k, m in maps.items()})
    value, shares = float(loss.detach()), None
    if np.isfinite(value):
        state.scaler.scale(loss).backward()
        if probe and logits.grad is not None:
            shares = gradient_shares(logits.grad, logits, y)
        state.scaler.step(state.optimizer)
        state.scaler.update()
    return value, shares


def _write_history(history: list[list[Any]], path: Path) -> None:
    def write(partial: Path) -> None:
        with partial.open("w", newline="") as handle:
            writer = csv.writer(handle)
            columns = ["iteration", "loss", "seconds", "batch_hash", "attempt", *PROBE_COLUMNS]
            writer.writerow(columns)  # a row of a checkpoint written before probes: padded
            writer.writerows(row + [""] * (len(columns) - len(row)) for row in history)

    write_atomic(path, write)
