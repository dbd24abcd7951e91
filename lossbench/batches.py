"""A trial's batches, drawn in a background thread while the previous step trains."""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lossbench.config import TrainConfig
from lossbench.data.patches import sample_batch

__all__ = ["Batches", "Maps"]

Maps = dict[str, torch.Tensor] | None
"""A batch's target maps by name, or None for a loss without them."""


class Batches:
    """The trial's seeded batches, each prepared by a background thread while the previous step
    runs, drawn from ``rng`` in the same order as without the thread (bit-identical batches).

    With each batch come the loss's target maps (``loss_fn.target_maps`` of the labels, e.g. the
    distance maps of the boundary losses, computed here rather than inside the step; None for a
    loss without them) and the generator's state after the batch was drawn: the state a
    checkpoint must store, since the thread may already have drawn the next batch.
    """

    def __init__(
        self,
        cases: Sequence[tuple[np.ndarray, np.ndarray]],
        train: TrainConfig,
        rng: np.random.Generator,
        count: int,
        loss_fn: torch.nn.Module,
        depth: int = 2,
    ) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        maker = getattr(loss_fn, "target_maps", None)  # optional: plugins may not have it
        self._thread = threading.Thread(
            target=self._fill, args=(cases, train, rng, count, maker), daemon=True
        )

    def _fill(
        self,
        cases: Sequence[tuple[np.ndarray, np.ndarray]],
        train: TrainConfig,
        rng: np.random.Generator,
        count: int,
        maker: Any,
    ) -> None:
        size = (train.patch_size,) * 3
        try:
            for _ in range(count):
                images, labels = sample_batch(
                    cases, train.batch_size, size, rng, train.max_shift, augmentation=train.augment
                )
                maps = maker(torch.from_numpy(labels)) if callable(maker) else None
                self._put((images, labels, maps, copy.deepcopy(rng.bit_generator.state)))
        except BaseException as exc:  # handed to the training loop, which raises it
            self._put(exc)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self) -> tuple[np.ndarray, np.ndarray, Maps, dict[str, Any]]:
        """``(images, labels, target maps, generator state after them)`` of the next step."""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def __enter__(self) -> Batches:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
