"""A per-unit term made into a public loss: :func:`loss_function` and :class:`Loss`.

:func:`loss_function` turns a term into the public functional (validation of inputs and
hyper-parameters, activation, target shape, reduction), and :class:`Loss` into an ``nn.Module``.
A term may also need *target maps*: tensors computed from the target alone, such as distance
maps. It declares them to :func:`loss_function` and receives them in its keyword
``target_maps``, which is not a hyper-parameter; see :class:`Loss` for how a caller computes them
ahead of the loss.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Concatenate, ParamSpec, Protocol, cast

import torch
from torch import Tensor, nn

from lossbench.losses._input import check_target_values, lesion_input
from lossbench.losses._params import Fraction, Reduction, check_params, check_value

__all__ = [
    "MAPS_KEYWORD",
    "Loss",
    "LossFunction",
    "MapFunction",
    "TargetMaps",
    "Term",
    "loss_function",
]

MapFunction = Callable[[Tensor], Tensor]
"""Computes one target map from boolean lesion masks (B, *spatial): a tensor of the same shape."""

TargetMaps = Mapping[str, Tensor]
"""Target maps by name, each shaped like the target they were computed from."""

MAPS_KEYWORD = "target_maps"
"""The keyword in which a term receives its target maps (not a hyper-parameter)."""

_COMMON = (
    inspect.Parameter("batch", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=bool),
    inspect.Parameter(
        "reduction", inspect.Parameter.KEYWORD_ONLY, default="mean", annotation=Reduction
    ),
)

P = ParamSpec("P")
Term = Callable[Concatenate[Tensor, Tensor, bool, P], Tensor]


class LossFunction(Protocol[P]):
    """A public loss function made by :func:`loss_function`; ``term`` is the per-unit term.

    ``P`` holds the term's keyword hyper-parameters, so calls of ``loss.term`` are type-checked.
    The loss itself types only ``batch`` and ``reduction`` (keywords cannot be added to a
    ``ParamSpec``); its other hyper-parameters are validated when it is called. ``maps`` declares
    the target maps the term takes, by name, with the function that computes each (empty for a
    term that takes none).
    """

    term: Term[P]
    maps: Mapping[str, MapFunction]
    __name__: str
    __signature__: inspect.Signature

    def __call__(
        self,
        logits: Tensor,
        target: Tensor,
        target_maps: TargetMaps | None = None,
        *,
        batch: bool = True,
        reduction: Reduction = "mean",
        **params: Any,
    ) -> Tensor: ...


def _compute_maps(maps: Mapping[str, MapFunction], target: Tensor) -> dict[str, Tensor]:
    """Each declared map of the target's lesion masks, ``target > 0.5`` in its own dtype."""
    masks = target if target.dtype is torch.bool else target > 0.5
    return {name: compute(masks) for name, compute in maps.items()}


def _checked_maps(
    owner: str, maps: Mapping[str, MapFunction], given: TargetMaps, target: Tensor, y: Tensor
) -> dict[str, Tensor]:
    """The ``given`` target maps, checked against the declared ``maps``, shaped like ``y``."""
    if set(given) != set(maps):
        raise ValueError(
            f"{owner}: `{MAPS_KEYWORD}` must hold the maps {sorted(maps)}, as the loss's "
            f"`target_maps()` makes them, got {sorted(given)}"
        )
    for name, tensor in given.items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{owner}: target map {name!r} must be a tensor, got {tensor!r}")
        if tensor.shape not in (target.shape, y.shape):
            raise ValueError(
                f"{owner}: target map {name!r} must have the target's shape "
                f"{tuple(target.shape)}, got {tuple(tensor.shape)}"
            )
        if tensor.device != y.device:
            raise ValueError(
                f"{owner}: target map {name!r} is on {tensor.device} but `logits` on "
                f"{y.device}; move it to that device"
            )
    return {name: tensor.reshape(y.shape) for name, tensor in given.items()}


def _apply(
    term: Term[...],
    maps: Mapping[str, MapFunction],
    logits: Tensor,
    target: Tensor,
    params: Mapping[str, Any],
    target_maps: TargetMaps | None,
) -> Tensor:
    hparams = dict(params)
    batch, reduction = hparams.pop("batch"), hparams.pop("reduction")
    z, y = lesion_input(logits, target)
    if maps:
        given = _compute_maps(maps, target) if target_maps is None else target_maps
        hparams[MAPS_KEYWORD] = _checked_maps(term.__name__, maps, given, target, y)
    elif target_maps:
        raise ValueError(f"{term.__name__} takes no target maps, got {sorted(target_maps)}")
    per_unit = term(z, y, batch and reduction == "mean", **hparams)
    return per_unit.mean() if reduction == "mean" else per_unit


def _public_signature(term: Term[...], declared: Mapping[str, MapFunction]) -> inspect.Signature:
    """The signature of the loss made of ``term``: the tensors, the maps, the term's annotated
    hyper-parameters, then ``batch`` and ``reduction``; refuses a term whose ``target_maps``
    keyword and declared maps disagree."""
    if (MAPS_KEYWORD in inspect.signature(term).parameters) != bool(declared):
        raise TypeError(
            f"{term.__name__}: a term takes the keyword `{MAPS_KEYWORD}` exactly when it "
            f"declares target maps, got maps {sorted(declared)}"
        )
    hints = typing.get_type_hints(term, include_extras=True)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(term).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != MAPS_KEYWORD
    ]
    tensors = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Tensor)
        for n in ("logits", "target")
    ]
    given = inspect.Parameter(
        MAPS_KEYWORD,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=None,
        annotation=TargetMaps | None,
    )
    return inspect.Signature([*tensors, given, *own, *_COMMON], return_annotation=Tensor)


def loss_function(term: Term[P], maps: Mapping[str, MapFunction] | None = None) -> LossFunction[P]:
    """Make a public loss function from a per-unit term.

    The term has the signature ``term(z, y, pooled, *, <hyper-parameters>) -> Tensor`` with
    annotated keyword-only hyper-parameters. The result has the signature
    ``loss(logits, target, target_maps=None, *, <hyper-parameters>, batch=True,
    reduction="mean")``: it validates both tensors and every hyper-parameter, calls the term with
    ``pooled = batch and reduction == "mean"`` and returns a scalar (``"mean"``) or per-case
    losses of shape (B,) (``"none"``, region terms computed per case). ``loss.term`` is the raw
    term, for reuse in compound losses.

    ``maps`` declares the target maps the term needs: by name, the function that computes each
    from the target's boolean lesion masks (``target > 0.5``, (B, *spatial)). Such a term takes a
    keyword-only ``target_maps`` (:data:`TargetMaps`, each map shaped like ``y``), which is not a
    hyper-parameter: the loss passes the maps given to it, checked, or computes them (see
    :class:`Loss`). ``loss.maps`` holds the declaration; a loss without maps refuses any.

    Raises:
        TypeError: the term takes ``target_maps`` and declares no maps, or the reverse.

    Example:
        >>> from lossbench.losses._core import unit_mean
        >>> @loss_function
        ... def mean_prob(z, y, pooled):
        ...     return unit_mean(torch.sigmoid(z), pooled)
        >>> mean_prob(torch.zeros(2, 1, 3, 3, 3), torch.zeros(2, 3, 3, 3), reduction="none")
        tensor([0.5000, 0.5000])
        >>> def lesion_share(z, y, pooled, *, target_maps):
        ...     return unit_mean(target_maps["lesion"], pooled)
        >>> share = loss_function(lesion_share, {"lesion": lambda masks: masks.double()})
        >>> share(torch.zeros(1, 1, 4), torch.tensor([[[1.0, 0.0, 0.0, 1.0]]]))
        tensor(0.5000, dtype=torch.float64)
    """
    declared = dict(maps or {})
    signature = _public_signature(term, declared)
    name = term.__name__

    @functools.wraps(term)
    def loss(
        logits: Tensor, target: Tensor, target_maps: TargetMaps | None = None, **params: Any
    ) -> Tensor:
        hparams = check_params(name, signature, params)
        return _apply(term, declared, logits, target, hparams, target_maps)

    public = cast(LossFunction[P], loss)
    public.__signature__ = signature
    public.term = term
    public.maps = declared
    del loss.__wrapped__  # the public signature is the one above
    return public


class Loss(nn.Module):
    """Base of the built-in losses: an ``nn.Module`` holding validated hyper-parameters.

    Subclasses set ``function`` (made by :func:`loss_function`), ``family`` and ``citation``;
    their constructor takes the function's keyword hyper-parameters, validated at construction.
    The built-in subclasses are made by :func:`lossbench.losses.registry.builtin_loss`.

    Training progress: before each optimiser step the trainer calls :meth:`set_progress` with the
    fraction of the trial's iterations done. A loss whose term takes a keyword hyper-parameter
    ``progress`` (a :data:`Fraction`; its default, documented by the term, holds wherever nobody
    reports progress) receives that fraction there; the others ignore it.

    Target maps: a loss whose term needs maps of the target alone (the boundary losses' distance
    maps) lets the caller compute them ahead of the call, where and when it suits, e.g. on the
    CPU in the thread that prepares the batches::

        maps = loss.target_maps(target)  # None for a loss that needs none
        maps = {name: m.to(device) for name, m in maps.items()}  # to the logits' device
        value = loss(logits, target, target_maps=maps)

    The maps must come from the same target. The loss uses them in place of computing them, and
    its value and gradient are the same, bit for bit. Without them, it computes them itself on
    the target's device. A loss that needs none returns None from :meth:`target_maps` and is
    called as ``loss(logits, target)``.
    """

    function: ClassVar[LossFunction[...]]
    family: ClassVar[str] = ""
    citation: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fn_sig = inspect.signature(cls.function)
        cls.__signature__ = fn_sig.replace(  # type: ignore[attr-defined]
            parameters=[p for p in fn_sig.parameters.values() if p.kind is p.KEYWORD_ONLY],
            return_annotation=inspect.Signature.empty,
        )

    def __init__(self, *, batch: bool = True, reduction: Reduction = "mean", **params: Any) -> None:
        super().__init__()
        params = {**params, "batch": batch, "reduction": reduction}
        self.params = check_params(type(self).__name__, inspect.signature(self.function), params)

    def forward(
        self, logits: Tensor, target: Tensor, target_maps: TargetMaps | None = None
    ) -> Tensor:
        """Loss of ``logits`` (B, C, *spatial) against ``target``; scalar or (B,).

        ``target_maps`` are the maps that :meth:`target_maps` made of this ``target``, on the
        logits' device; the loss computes them when they are not given.
        """
        function = self.function
        return _apply(function.term, function.maps, logits, target, self.params, target_maps)

    def target_maps(self, target: Tensor) -> dict[str, Tensor] | None:
        """The maps of ``target`` that the loss needs, to compute ahead of the call.

        Args:
            target: (B, 1, *spatial) or (B, *spatial), as the loss takes it, on any device (its
                values are checked, as the loss checks them, on the CPU).

        Returns:
            ``{name: map}`` with each map shaped like ``target``, on its device, for the loss's
            ``target_maps`` argument; None for a loss that needs none.

        Raises:
            TypeError, ValueError: a target the loss would refuse.

        Example:
            >>> from lossbench.losses import create_loss
            >>> loss, target = create_loss("hausdorff_dt"), torch.tensor([[[1.0, 1.0, 0.0]]])
            >>> maps = loss.target_maps(target)
            >>> maps
            {'distance_to_boundary': tensor([[[2., 1., 1.]]], dtype=torch.float64)}
            >>> logits = torch.tensor([[[-4.0, 4.0, 4.0]]])
            >>> torch.equal(loss(logits, target, target_maps=maps), loss(logits, target))
            True
            >>> create_loss("dice").target_maps(target) is None
            True
        """
        maps = self.function.maps
        if not maps:
            return None
        if not isinstance(target, Tensor) or target.ndim < 2:
            got = tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__
            raise TypeError(
                f"{type(self).__name__}: `target` must be a tensor (B, 1, *spatial) or "
                f"(B, *spatial), got {got}"
            )
        check_target_values(target)
        return _compute_maps(maps, target)

    def set_progress(self, fraction: float) -> None:
        """Follow training: ``fraction`` of the iterations done, in [0, 1].

        Sets the ``progress`` hyper-parameter of a loss that has one; a no-op for the others.

        Raises:
            ValueError: ``fraction`` outside [0, 1]; TypeError: not a real number.

        Example:
            >>> from lossbench.losses import create_loss
            >>> loss = create_loss("boundary")
            >>> loss.set_progress(0.5)
            >>> loss.params["progress"]
            0.5
        """
        check_value(type(self).__name__, "fraction", fraction, Fraction)
        if "progress" in self.params:
            self.params["progress"] = float(fraction)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())
