"""Every registered loss as an nnU-Net v2 trainer: ``nnUNetTrainer_lb_<loss>``.

A trainer class is made on demand for each name of :func:`lossbench.losses.list_losses`
(entry-point plugins included). It is nnU-Net's own ``nnUNetTrainer`` in everything but the
loss: its ``_build_loss`` returns the lossbench loss, called on nnU-Net's two-channel output
(softmax, channel 1 the lesion: lossbench's C = 2 convention) and the integer target as nnU-Net
passes it, (B, 1, *spatial); with deep supervision on, it sits in nnU-Net's own
``DeepSupervisionWrapper`` with nnU-Net's own weights (1/2^i per output, the lowest output at 0,
normalised to sum to 1). A loss that follows training progress gets the fraction of nnU-Net's
iterations done before each step. A dataset with more than one foreground label, regions or an
ignore label is refused: lossbench's losses are binary.

nnU-Net finds a trainer by class name. Either set ``nnUNet_extTrainer`` to
:func:`extra_trainer_folder` (``export nnUNet_extTrainer=$(lossbench nnunet path)``), or run
``lossbench nnunet install``, which writes a small import module into nnunetv2's trainer folder
(``lossbench nnunet uninstall`` removes it). Then
``nnUNetv2_train DATASET 3d_fullres 0 -tr nnUNetTrainer_lb_hytver`` trains with HyTver, and
``nnUNetv2_predict ... -tr nnUNetTrainer_lb_hytver`` predicts with that model.

Two environment variables, read when a trainer starts, change what it trains:

- ``LOSSBENCH_NNUNET_LOSS_PARAMS``: JSON ``{"<loss>": {"<hyper-parameter>": value}}``, e.g.
  ``{"hytver": {"beta": 0.8}}``; losses not named keep the registry's defaults. The trainer
  writes the loss and its resolved hyper-parameters to ``lossbench_loss.json`` in its fold folder.
- ``LOSSBENCH_NNUNET_TRAINER``: JSON of nnU-Net trainer settings among :data:`TRAINER_SETTINGS`,
  e.g. ``{"num_epochs": 50}`` (``lossbench nnunet benchmark --epochs`` sets it).
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lossbench
from lossbench._files import write_atomic
from lossbench.integrations import NNUNET_MISSING
from lossbench.integrations.nnunet_settings import (
    PARAMS_ENV,
    TRAINER_ENV,
    TRAINER_SETTINGS,
    binary_label,
    env_params,
    trainer_settings,
)
from lossbench.losses import create_loss, list_losses

try:
    import nnunetv2
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
except ImportError as exc:  # the optional extra is missing (or broken: say which)
    raise ImportError(f"{NNUNET_MISSING} ({exc})") from exc

__all__ = [
    "PARAMS_ENV",
    "PREFIX",
    "TRAINER_ENV",
    "TRAINER_SETTINGS",
    "LossbenchTrainer",
    "binary_label",
    "extra_trainer_folder",
    "install",
    "make_trainer",
    "trainer_class",
    "trainer_name",
    "trainer_settings",
    "uninstall",
]

PREFIX = "nnUNetTrainer_lb_"
"""Every lossbench trainer's class name is this prefix followed by the loss's registry name."""

_CUDA = torch.device("cuda")  # nnU-Net's default device for a trainer
_SHIM = Path(__file__).parent / "nnunet_trainers" / "lossbench_trainers.py"
_MARKER = "lossbench nnunet install"


class LossbenchTrainer(nnUNetTrainer):
    """nnU-Net's trainer with a lossbench loss; subclasses set :attr:`loss_name`.

    Use :func:`trainer_class` (or :func:`make_trainer` for hyper-parameters of your own) rather
    than subclassing by hand. The constructor takes nnU-Net's trainer arguments.
    """

    loss_name: str = ""
    """The registry name of the loss."""
    loss_params: Mapping[str, Any] = {}
    """Hyper-parameters given at class creation; :data:`PARAMS_ENV` overrides them."""

    def __init__(
        self,
        plans: dict,
        configuration: str,
        fold: int,
        dataset_json: dict,
        device: torch.device = _CUDA,
    ) -> None:
        # the same argument names as nnU-Net's: it records them by name for its checkpoints
        binary_label(dataset_json.get("labels", {}), f"{type(self).__name__}'s dataset.json")
        settings = trainer_settings()
        super().__init__(plans, configuration, fold, dataset_json, device)
        for key, value in settings.items():
            if key != "final_validation":
                setattr(self, key, value)
        self._lb_settings = settings
        self._lb_loss: nn.Module | None = None
        self._lb_iteration = 0

    def _build_loss(self) -> nn.Module:
        params = {**self.loss_params, **env_params(self.loss_name)}
        loss = create_loss(self.loss_name, **params)
        self._lb_loss = loss
        built = super()._build_loss()  # nnU-Net's loss, for its deep-supervision wrapper
        if isinstance(built, DeepSupervisionWrapper):
            built.loss = loss
            return built
        return loss

    def on_train_start(self) -> None:
        super().on_train_start()
        loss = self._lb_loss
        record = {
            "trainer": type(self).__name__,
            "loss": self.loss_name,
            "params": dict(getattr(loss, "params", {}) or {}),
            "trainer_settings": self._lb_settings,
            "deep_supervision": bool(self.enable_deep_supervision),
            "lossbench": lossbench.__version__,
        }
        text = json.dumps(record, indent=2, default=str) + "\n"
        write_atomic(
            Path(self.output_folder) / "lossbench_loss.json", lambda path: path.write_text(text)
        )
        self.print_to_log_file(f"lossbench loss: {self.loss_name} {record['params']}")

    def perform_actual_validation(self, save_probabilities: bool = False) -> None:
        if not self._lb_settings.get("final_validation", True):
            self.print_to_log_file("final validation skipped (final_validation is false)")
            return
        super().perform_actual_validation(save_probabilities)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._lb_iteration = self.current_epoch * self.num_iterations_per_epoch

    def train_step(self, batch: dict) -> dict:
        set_progress = getattr(self._lb_loss, "set_progress", None)
        if callable(set_progress):
            total = max(self.num_epochs * self.num_iterations_per_epoch, 1)
            set_progress(min(self._lb_iteration / total, 1.0))
        self._lb_iteration += 1
        return super().train_step(batch)


def trainer_name(loss: str) -> str:
    """The nnU-Net trainer class name of a registered loss.

    Example:
        >>> trainer_name("hytver")
        'nnUNetTrainer_lb_hytver'
    """
    return PREFIX + loss


def make_trainer(loss: str, name: str | None = None, **params: Any) -> type[LossbenchTrainer]:
    """A new trainer class for ``loss`` with hyper-parameters ``params``.

    For named variants: put ``nnUNetTrainer_lb_hytver_b08 = make_trainer("hytver",
    "nnUNetTrainer_lb_hytver_b08", beta=0.8)`` in a module of a folder named in
    ``nnUNet_extTrainer``, then train with ``-tr nnUNetTrainer_lb_hytver_b08``.

    Args:
        loss: a registered loss name.
        name: the class name (default ``nnUNetTrainer_lb_<loss>``).
        params: the loss's hyper-parameters, checked here by creating the loss once.

    Raises:
        ValueError: an unknown loss or hyper-parameter.

    Example:
        >>> cls = make_trainer("tversky", "nnUNetTrainer_lb_tv37", fp_weight=0.3, fn_weight=0.7)
        >>> cls.__name__, cls.loss_name, dict(cls.loss_params)
        ('nnUNetTrainer_lb_tv37', 'tversky', {'fp_weight': 0.3, 'fn_weight': 0.7})
    """
    create_loss(loss, **params)  # fail here, not in the middle of nnU-Net's start-up
    cls_name = name or trainer_name(loss)
    namespace = {
        "loss_name": loss,
        "loss_params": dict(params),
        "__module__": __name__,
        "__qualname__": cls_name,
        "__doc__": f"nnU-Net v2 trainer with lossbench's {loss!r} loss {dict(params) or ''}",
    }
    return type(cls_name, (LossbenchTrainer,), namespace)


@functools.cache
def _registered(loss: str) -> type[LossbenchTrainer]:
    return make_trainer(loss)


def trainer_class(name: str) -> type[LossbenchTrainer]:
    """The trainer class ``nnUNetTrainer_lb_<loss>`` of a registered loss (the same object on
    every call).

    Raises:
        AttributeError: ``name`` does not name a registered loss's trainer (nnU-Net's search
            takes that as "not here" and goes on to its other modules).

    Example:
        >>> cls = trainer_class("nnUNetTrainer_lb_hytver")
        >>> cls is trainer_class("nnUNetTrainer_lb_hytver"), cls.loss_name
        (True, 'hytver')
    """
    loss = name[len(PREFIX) :] if name.startswith(PREFIX) else None
    if loss is None or loss not in list_losses():
        raise AttributeError(
            f"{name!r} is not a lossbench trainer: the names are {PREFIX}<loss> "
            f"for the losses {', '.join(list_losses())}"
        )
    return _registered(loss)


def __getattr__(name: str) -> type[LossbenchTrainer]:
    """``from lossbench.integrations.nnunet import nnUNetTrainer_lb_dice`` (and pickle) work."""
    if name.startswith(PREFIX):
        return trainer_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def extra_trainer_folder() -> Path:
    """The folder to name in nnU-Net's ``nnUNet_extTrainer`` variable.

    Example:
        >>> sorted(p.name for p in extra_trainer_folder().glob("*.py"))
        ['__init__.py', 'lossbench_trainers.py']
    """
    return _SHIM.parent


def _nnunet_trainer_folder() -> Path:
    return Path(nnunetv2.__file__).parent / "training" / "nnUNetTrainer"


def install(folder: str | Path | None = None) -> Path:
    """Write lossbench's import module into nnunetv2's trainer folder; returns its path.

    Args:
        folder: where to write it (default: the installed nnunetv2's
            ``training/nnUNetTrainer``).

    Raises:
        FileExistsError: a ``lossbench_trainers.py`` that lossbench did not write is there.
        PermissionError: the folder is not writable (set ``nnUNet_extTrainer`` instead).

    Example:
        >>> import tempfile
        >>> target = install(tempfile.mkdtemp())
        >>> target.name, uninstall(target.parent) == target, target.exists()
        ('lossbench_trainers.py', True, False)
    """
    target = Path(folder or _nnunet_trainer_folder()) / _SHIM.name
    if target.exists() and _MARKER not in target.read_text(errors="replace"):
        raise FileExistsError(f"{target} exists and was not written by lossbench; not replacing it")
    try:
        write_atomic(target, lambda path: shutil.copyfile(_SHIM, path))
    except PermissionError as exc:
        raise PermissionError(
            f"cannot write {target} ({exc.strerror}); set nnUNet_extTrainer to "
            f"{extra_trainer_folder()} instead"
        ) from exc
    return target


def uninstall(folder: str | Path | None = None) -> Path | None:
    """Remove what :func:`install` wrote; returns the removed path, or None if it was not there.

    Raises:
        FileExistsError: the file there was not written by lossbench (it is left in place).

    Example:
        >>> import tempfile
        >>> uninstall(tempfile.mkdtemp()) is None
        True
    """
    target = Path(folder or _nnunet_trainer_folder()) / _SHIM.name
    if not target.exists():
        return None
    if _MARKER not in target.read_text(errors="replace"):
        raise FileExistsError(f"{target} was not written by lossbench; not removing it")
    target.unlink()
    for cached in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
        cached.unlink(missing_ok=True)
    return target
