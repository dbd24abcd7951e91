"""The one input step every loss shares, written once.

Every built-in loss is a *term*: a function ``term(z, y, pooled, **hparams) -> Tensor`` of the
lesion logit ``z`` and the float target ``y`` (both shaped (B, *spatial)) that returns one loss
value per *unit*: shape (1,) when region sums are pooled over the batch, (B,) otherwise.
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
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Concatenate, Literal, ParamSpec, Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lossbench._text import suggest

__all__ = [
    "MAPS_KEYWORD",
    "SMOOTH",
    "Fraction",
    "Interval",
    "Loss",
    "LossFunction",
    "MapFunction",
    "NonNegative",
    "Reduction",
    "TargetMaps",
    "lesion_input",
    "loss_function",
    "overlap_and_wce",
    "overlap_sums",
    "safe_pow",
    "unit_dot",
    "unit_mean",
    "unit_size",
    "unit_sum",
]

SMOOTH = 1e-5
"""Default smoothing added to numerator and denominator of every region ratio."""

Reduction = Literal["mean", "none"]

MapFunction = Callable[[Tensor], Tensor]
"""Computes one target map from boolean lesion masks (B, *spatial): a tensor of the same shape."""

TargetMaps = Mapping[str, Tensor]
"""Target maps by name, each shaped like the target they were computed from."""

MAPS_KEYWORD = "target_maps"
"""The keyword in which a term receives its target maps (not a hyper-parameter)."""


@dataclass(frozen=True)
class Interval:
    """Closed range ``[low, high]`` that a float hyper-parameter must lie in."""

    low: float
    high: float = math.inf

    def describe(self) -> str:
        """Human-readable form used in error messages.

        Example:
            >>> Interval(0.0, 1.0).describe(), Interval(0.0).describe()
            ('in [0, 1]', '>= 0')
        """
        if math.isinf(self.high):
            return f">= {self.low:g}"
        return f"in [{self.low:g}, {self.high:g}]"


Fraction = Annotated[float, Interval(0.0, 1.0)]
NonNegative = Annotated[float, Interval(0.0)]

_COMMON = (
    inspect.Parameter("batch", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=bool),
    inspect.Parameter(
        "reduction", inspect.Parameter.KEYWORD_ONLY, default="mean", annotation=Reduction
    ),
)


def _check_value(owner: str, name: str, value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        _, *meta = typing.get_args(hint)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{owner}: `{name}` must be a real number, got {value!r}")
        for m in meta:
            if isinstance(m, Interval) and not (m.low <= value <= m.high):
                raise ValueError(f"{owner}: `{name}` must be {m.describe()}, got {value!r}")
    elif origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            hint_text = suggest(value, allowed) if isinstance(value, str) else ""
            raise ValueError(
                f"{owner}: `{name}` must be one of {list(allowed)}, got {value!r}{hint_text}"
            )
    elif hint is bool and not isinstance(value, bool):
        raise TypeError(f"{owner}: `{name}` must be True or False, got {value!r}")


def check_params(owner: str, signature: inspect.Signature, params: Mapping[str, Any]) -> dict:
    """Validate keyword hyper-parameters against ``signature``; return them with defaults filled.

    Unknown names raise ``TypeError`` with the closest valid name; values outside their annotated
    range (``Fraction``, ``NonNegative``, ``Literal``, ``bool``) raise ``ValueError``/``TypeError``
    naming the parameter and the value.

    Example:
        >>> from lossbench.losses import tversky_loss
        >>> sig = inspect.signature(tversky_loss)
        >>> check_params("tversky", sig, {"fp_weight": 0.5})["fn_weight"]
        0.7
    """
    known = {n: p for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY}
    for name in params:
        if name not in known:
            raise TypeError(
                f"{owner}: unknown parameter {name!r}{suggest(name, known)} "
                f"(valid: {', '.join(known)})"
            )
    bound = {n: params.get(n, p.default) for n, p in known.items()}
    for name, value in bound.items():
        _check_value(owner, name, value, known[name].annotation)
    return bound


def _check_target_values(target: Tensor) -> None:
    """Refuse a complex target, and a CPU target with values outside [0, 1]."""
    if target.is_complex():
        raise TypeError(f"`target` must be bool, integer or float, got dtype {target.dtype}")
    if target.device.type == "cpu" and target.dtype is not torch.bool and target.numel() > 0:
        low, high = torch.aminmax(target.detach())
        low_v, high_v = float(low), float(high)
        if not (low_v >= 0.0 and high_v <= 1.0):
            raise ValueError(
                f"`target` values must lie in [0, 1], got min {low_v:g} and max {high_v:g}"
            )


def lesion_input(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Validate a (logits, target) pair and return the lesion logit and the float target.

    Args:
        logits: float tensor (B, C, *spatial) of raw network outputs, C = 1 (sigmoid) or C = 2
            (softmax, channel 1 is the lesion).
        target: (B, 1, *spatial) or (B, *spatial), bool, integer or float with values in [0, 1].
            The values are checked only for a CPU target: reading the minimum and maximum of a
            GPU tensor would make the host wait for the device at every call. A GPU target is
            trusted to have been checked where it was made (the trainer's labels are made, and
            checked, on the host).

    Returns:
        ``(z, y)``, both (B, *spatial) in the computing dtype: float64 for float64 ``logits``,
        float32 for any other float dtype (float16 and bfloat16 sums of a 3D patch overflow or
        stop counting), so every loss is computed, and returned, in that dtype while the gradient
        reaching ``logits`` is cast back to theirs. ``z`` is the lesion logit, so that
        ``sigmoid(z)`` is the lesion probability. For C = 2, ``z = logits[:, 1] - logits[:, 0]``
        (the softmax of two channels is the sigmoid of their difference), so ``[0, z]`` gives
        exactly the C = 1 result for ``z``.

    Example:
        >>> mask = torch.ones(2, 4, 4, 4, dtype=torch.bool)
        >>> z, y = lesion_input(torch.zeros(2, 2, 4, 4, 4, dtype=torch.float16), mask)
        >>> tuple(z.shape), z.dtype, y.dtype
        ((2, 4, 4, 4), torch.float32, torch.float32)
    """
    if not isinstance(logits, Tensor) or not isinstance(target, Tensor):
        raise TypeError(
            "`logits` and `target` must be torch tensors, got "
            f"{type(logits).__name__} and {type(target).__name__}"
        )
    if not logits.is_floating_point():
        raise TypeError(
            f"`logits` must be a floating-point tensor of raw network outputs, "
            f"got dtype {logits.dtype}"
        )
    if logits.ndim < 3 or logits.shape[1] not in (1, 2):
        raise ValueError(
            "`logits` must have shape (B, C, *spatial) with C = 1 (sigmoid) or C = 2 (softmax, "
            f"channel 1 = lesion), got {tuple(logits.shape)}"
        )
    batch, spatial = logits.shape[0], logits.shape[2:]
    if target.shape == (batch, 1, *spatial):
        y = target.squeeze(1)
    elif target.shape == (batch, *spatial):
        y = target
    else:
        raise ValueError(
            f"`target` must have shape {(batch, 1, *spatial)} or {(batch, *spatial)} to match "
            f"`logits` {tuple(logits.shape)}, got {tuple(target.shape)}"
        )
    if target.device != logits.device:
        raise ValueError(
            f"`target` is on {target.device} but `logits` on {logits.device}; "
            "move both to one device"
        )
    _check_target_values(target)
    compute = torch.float64 if logits.dtype == torch.float64 else torch.float32
    logits = logits.to(compute)  # the same tensor for float32 and float64
    # squeeze/unbind rather than indexing: the backward of logits[:, 0] zero-fills and copies a
    # full-size tensor, which cost a third of the Dice loss's time
    if logits.shape[1] == 1:
        z = logits.squeeze(1)
    else:
        background, lesion = logits.unbind(1)
        z = lesion - background
    return z, y.to(compute)


def unit_sum(x: Tensor, pooled: bool) -> Tensor:
    """Sum ``x`` (B, *spatial) per unit: shape (1,) when ``pooled``, else (B,).

    Example:
        >>> unit_sum(torch.ones(2, 3), pooled=True), unit_sum(torch.ones(2, 3), pooled=False)
        (tensor([6.]), tensor([3., 3.]))
    """
    return x.sum().reshape(1) if pooled else x.flatten(1).sum(1)


def unit_mean(x: Tensor, pooled: bool) -> Tensor:
    """Mean of ``x`` (B, *spatial) per unit: shape (1,) when ``pooled``, else (B,).

    Example:
        >>> unit_mean(torch.tensor([[1.0, 3.0], [5.0, 7.0]]), pooled=True)
        tensor([4.])
    """
    return x.mean().reshape(1) if pooled else x.flatten(1).mean(1)


def unit_dot(a: Tensor, b: Tensor, pooled: bool) -> Tensor:
    """``unit_sum(a * b)`` without materialising the product: (1,) or (B,).

    Example:
        >>> unit_dot(torch.ones(2, 3), torch.full((2, 3), 2.0), pooled=False)
        tensor([6., 6.])
    """
    if pooled:
        return torch.dot(a.reshape(-1), b.reshape(-1)).reshape(1)
    return torch.linalg.vecdot(a.flatten(1), b.flatten(1))


def unit_size(x: Tensor, pooled: bool) -> float:
    """Number of voxels in one unit of ``x`` (B, *spatial): all of them, or one case's.

    Example:
        >>> x = torch.ones(2, 3, 4)
        >>> unit_size(x, pooled=True), unit_size(x, pooled=False)
        (24.0, 12.0)
    """
    return float(x.numel() if pooled else x[0].numel())


def _weighted_ce_sum(z: Tensor, y: Tensor, pooled: bool, beta: float) -> Tensor:
    """Per-unit sum of ``beta y softplus(-z) + (1-beta)(1-y) softplus(z)``, the beta-weighted
    cross-entropy ``-[beta y log p + (1-beta)(1-y) log(1-p)]`` (nats), summed per voxel.

    Each voxel's value is formed before summing, so a correct prediction costs exactly 0 however
    large ``|z|``: ``sum softplus(z) - sum y z`` would subtract two sums of order ``|z|``.
    """
    soft = F.softplus(z)  # -log(1 - p); exactly z where z > 20
    if beta == 0.5:  # half the cross-entropy, softplus(z) - y z, exact where y is 0 or 1
        return 0.5 * unit_sum(soft.addcmul_(y, z, value=-1), pooled)
    lesion = unit_dot(y, soft - z, pooled)  # -log p = softplus(z) - z
    background = unit_sum(soft.addcmul_(y, soft, value=-1), pooled)  # (1 - y)(-log(1 - p))
    return beta * lesion + (1 - beta) * background


class _SoftOverlap(torch.autograd.Function):
    """Per-unit ``(TP, sum p, wCE_beta sum)`` of ``p = sigmoid(z)``, with a fused backward.

    The beta-weighted cross-entropy is summed by :func:`_weighted_ce_sum`. Its gradient
    ``(1-beta) p + (2 beta - 1) p y - beta y`` is added in place to the region gradient, so a
    compound loss (Dice + CE, Combo, HyTver) costs one gradient tensor, not one per term.

    The target gets its full gradient (soft labels may be learned):
    ``p dTP + (beta softplus(-z) - (1-beta) softplus(z)) dwCE``. Under ``create_graph=True`` the
    gradients are formed from differentiable operations on ``z`` and ``y`` instead, so second
    derivatives (Hessian-vector products) are exact.
    """

    @staticmethod
    def forward(
        ctx: Any, z: Tensor, y: Tensor, pooled: bool, beta: float | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        p = torch.sigmoid(z)
        ctx.save_for_backward(z, y, p)
        ctx.pooled, ctx.beta = pooled, beta
        tp, sum_p = unit_dot(p, y, pooled), unit_sum(p, pooled)
        if beta is None:
            return tp, sum_p, torch.zeros_like(tp)
        return tp, sum_p, _weighted_ce_sum(z, y, pooled, beta)

    @staticmethod
    def backward(
        ctx: Any, grad_tp: Tensor, grad_sp: Tensor, grad_wce: Tensor
    ) -> tuple[Tensor | None, ...]:
        z, y, p = ctx.saved_tensors
        shape = (1,) * z.ndim if ctx.pooled else (-1,) + (1,) * (z.ndim - 1)
        grad_tp, grad_sp, grad_wce = (g.reshape(shape) for g in (grad_tp, grad_sp, grad_wce))
        beta, (need_z, need_y) = ctx.beta, ctx.needs_input_grad[:2]
        grad_z = grad_y = None
        if torch.is_grad_enabled():  # backward(create_graph=True): differentiable operations
            p, q = torch.sigmoid(z), torch.sigmoid(-z)
            if need_z:
                grad_z = p * q * (grad_sp + y * grad_tp)
                if beta is not None:
                    grad_z = grad_z + grad_wce * ((1 - beta) * (1 - y) * p - beta * y * q)
        elif need_z:
            grad_z = torch.ops.aten.sigmoid_backward(torch.addcmul(grad_sp, y, grad_tp), p)
            if beta == 0.5:  # plain cross-entropy: (p - y) / 2
                grad_z.addcmul_(p, grad_wce, value=0.5).addcmul_(y, grad_wce, value=-0.5)
            elif beta is not None:  # p ((1-beta) + (2 beta - 1) y) - beta y
                weight = torch.addcmul((1 - beta) * grad_wce, y, (2 * beta - 1) * grad_wce)
                grad_z.addcmul_(p, weight).addcmul_(y, grad_wce, value=-beta)
        if need_y:
            grad_y = p * grad_tp
            if beta is not None:  # d wCE / dy = -beta log p + (1-beta) log(1-p)
                grad_y = grad_y + grad_wce * (beta * F.softplus(-z) - (1 - beta) * F.softplus(z))
        return grad_z, grad_y, None, None


def overlap_sums(z: Tensor, y: Tensor, pooled: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Soft overlap sums of ``p = sigmoid(z)`` per unit: ``(TP, sum p, sum y)``, each (1,) or (B,).

    ``FP = sum p - TP`` and ``FN = sum y - TP``, so three reductions give all four counts. A
    target that requires grad (soft labels being learned) gets its gradient too.

    Example:
        >>> overlap_sums(torch.tensor([[0.0, 9.0]]), torch.tensor([[1.0, 0.0]]), pooled=True)
        (tensor([0.5000]), tensor([1.4999]), tensor([1.]))
    """
    tp, sum_p, _ = _SoftOverlap.apply(z, y, pooled, None)
    return tp, sum_p, unit_sum(y, pooled)


def overlap_and_wce(
    z: Tensor, y: Tensor, pooled: bool, beta: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`overlap_sums` plus the per-unit *sum* of the beta-weighted cross-entropy
    ``-[beta y log p + (1-beta)(1-y) log(1-p)]`` (nats), computed in the same pass.

    ``beta = 0.5`` gives half the plain cross-entropy.

    Example:
        >>> tp, sp, sy, wce = overlap_and_wce(torch.zeros(1, 2), torch.ones(1, 2), True, 0.5)
        >>> wce  # 2 voxels x 0.5 log 2
        tensor([0.6931])
    """
    tp, sum_p, wce = _SoftOverlap.apply(z, y, pooled, beta)
    return tp, sum_p, unit_sum(y, pooled), wce


def safe_pow(x: Tensor, exponent: float) -> Tensor:
    """``x ** exponent`` for ``x >= 0`` whose gradient stays finite at ``x = 0`` (it is 0 there).

    Plain ``x ** 0.5`` has an infinite derivative at 0, which turns a perfect prediction into a
    NaN gradient.

    Example:
        >>> x = torch.tensor([0.0, 4.0], requires_grad=True)
        >>> safe_pow(x, 0.5).sum().backward()
        >>> x.grad
        tensor([0.0000, 0.2500])
    """
    if exponent == 1:
        return x
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, x.clamp_min(tiny) ** exponent, torch.zeros_like(x))


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
    signature = inspect.Signature([*tensors, given, *own, *_COMMON], return_annotation=Tensor)
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
        _check_target_values(target)
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
        _check_value(type(self).__name__, "fraction", fraction, Fraction)
        if "progress" in self.params:
            self.params["progress"] = float(fraction)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())
