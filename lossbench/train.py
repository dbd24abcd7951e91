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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from lossbench.config import Config
from lossbench.data.patches import sample_batch
from lossbench.losses import create_loss
from lossbench.models import VNet

__all__ = ["NonFiniteLossError", "build_model", "load_matching", "train_trial"]


class NonFiniteLossError(RuntimeError):
    """A loss value became NaN or infinite during training."""


def build_model(config: Config, seed: int) -> VNet:
    """The run's V-Net with weights initialised from ``seed`` (same seed, same weights).

    Example:
        >>> from lossbench.config import preset
        >>> a, b = build_model(preset("quick"), 0), build_model(preset("quick"), 0)
        >>> all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        True
    """
    torch.manual_seed(seed)
    return VNet(in_channels=3, width=config.model.width, levels=config.model.levels)


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
    digest = hashlib.sha1(memoryview(np.ascontiguousarray(images)))  # no copy of the batch
    digest.update(memoryview(np.ascontiguousarray(labels)))
    return digest.hexdigest()[:12]


def train_trial(
    loss_name: str,
    seed: int,
    cases: Sequence[tuple[np.ndarray, np.ndarray]],
    config: Config,
    folder: Path,
    device: torch.device,
    init_state: dict[str, torch.Tensor] | None = None,
    iterations: int | None = None,
    lr: float | None = None,
    progress: bool = True,
) -> tuple[VNet, float]:
    """Train one trial and return ``(model, training seconds)``.

    Writes ``folder/history.csv`` (iteration, loss, seconds, batch hash) and
    ``folder/checkpoint.pt``; an existing checkpoint is resumed.

    Args:
        loss_name: a registered loss.
        seed: drives the initial weights (when ``init_state`` is None) and the batch sequence.
        cases: prepared ``(image (3, x, y, z), label (x, y, z))`` training pairs.
        config: the run's configuration (``train`` and ``model`` sections).
        folder: the trial's folder.
        device: where to train.
        init_state: starting weights shared by every loss (e.g. the pretrained checkpoint).
        iterations, lr: override ``config.train.iterations`` / ``lr`` (the pretraining stage).
        progress: show a progress bar.

    Raises:
        NonFiniteLossError: the loss became NaN or inf (the message names iteration and loss).
    """
    train = config.train
    iterations = train.iterations if iterations is None else iterations
    folder.mkdir(parents=True, exist_ok=True)
    model = build_model(config, seed)
    if init_state is not None:
        skipped = load_matching(model, init_state)
        if skipped:  # a state dict from another architecture: say what kept its initial value
            (folder / "init_skipped.txt").write_text("\n".join(skipped) + "\n")
            warnings.warn(
                f"{len(skipped)} of the model's weights had no matching entry in the initial "
                f"state and keep their seeded values (listed in {folder / 'init_skipped.txt'})",
                stacklevel=2,
            )
    model.to(device)
    if train.freeze_encoder and init_state is not None:
        for p in model.encoder_parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=train.lr if lr is None else lr)
    loss_fn = create_loss(loss_name)
    rng = np.random.default_rng([seed, 7])
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    start, elapsed, history = 0, 0.0, []
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        if state.get("scaler"):  # the AMP loss scale (empty when the trial ran without AMP)
            scaler.load_state_dict(state["scaler"])
        start, elapsed, history = state["iteration"], state["elapsed"], state["history"]
    size = (train.patch_size,) * 3
    model.train()
    bar = tqdm(
        range(start, iterations), desc=f"{loss_name} seed {seed}", unit="it", leave=False,
        disable=not progress, initial=start, total=iterations,
    )  # fmt: skip
    clock = time.perf_counter()
    for iteration in bar:
        images, labels = sample_batch(
            cases, train.batch_size, size, rng, train.max_shift, augmentation=train.augment
        )
        x = torch.from_numpy(images).to(device)
        y = torch.from_numpy(labels).to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        value = float(loss.detach())
        if not np.isfinite(value):
            raise NonFiniteLossError(
                f"loss {loss_name!r} became {value} at iteration {iteration + 1} (seed {seed})"
            )
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        now = time.perf_counter()
        history.append([iteration + 1, value, round(elapsed + now - clock, 3),
                        _batch_hash(images, labels)])  # fmt: skip
        done = iteration + 1
        if done % train.checkpoint_every == 0 or done == iterations:
            _save_checkpoint(
                checkpoint, model, optimizer, scaler, rng, done, elapsed + now - clock, history
            )
    elapsed += time.perf_counter() - clock
    with (folder / "history.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["iteration", "loss", "seconds", "batch_hash"])
        writer.writerows(history)
    return model, elapsed


def _save_checkpoint(path: Path, model: Any, optimizer: Any, scaler: Any, rng: Any,
                     iteration: int, elapsed: float, history: list) -> None:  # fmt: skip
    partial = path.with_suffix(".partial")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
         "scaler": scaler.state_dict(), "rng": rng.bit_generator.state,
         "iteration": iteration, "elapsed": elapsed, "history": history},
        partial,
    )  # fmt: skip
    partial.replace(path)
