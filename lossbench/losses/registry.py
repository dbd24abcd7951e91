"""One registry of losses: built-ins are declared by decorator, plugins found through entry points.

A third-party package makes its loss available to ``lossbench run --losses all`` by declaring, in
its ``pyproject.toml``::

    [project.entry-points."lossbench.losses"]
    my_loss = "my_package.losses:MyLoss"

``MyLoss`` is any ``nn.Module`` class (or factory) called as ``MyLoss(**params)`` and then as
``loss(logits, target)``; optional class attributes ``family`` and ``citation`` are shown by
``lossbench losses``. A loss that changes as training proceeds defines a method
``set_progress(fraction)``: the trainer calls it before each optimiser step with the fraction of
the trial's iterations done, ``iteration / iterations`` in [0, 1) (also after a resume), and
never calls it on a loss without one. A loss that needs maps computed from the target alone
(distance maps, say) may define a method ``target_maps(target)`` returning them as a dict of
tensors shaped like the target, or None: the trainer calls it on the CPU where it prepares each
batch and passes a dict it returned, moved to the device, as ``loss(logits, target,
target_maps=maps)``; a loss without the method, or whose method returned None, is called as
``loss(logits, target)``. The built-in losses inherit both methods from
:class:`lossbench.losses.Loss`.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, ParamSpec, TypeVar, cast

from torch import nn

from lossbench._text import suggest
from lossbench.losses._core import Loss, LossFunction, MapFunction, Term, loss_function

__all__ = [
    "ENTRY_POINT_GROUP",
    "builtin_loss",
    "create_loss",
    "declared_names",
    "get_loss_class",
    "list_losses",
    "loss_defaults",
    "register_loss",
]

ENTRY_POINT_GROUP = "lossbench.losses"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = ("all", "released")  # words of ``--losses`` that select several losses
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_DECLARED: list[str] = []

T = TypeVar("T", bound=Callable[..., nn.Module])
P = ParamSpec("P")


def _add(name: str, obj: Callable[..., nn.Module], origin: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"loss name must be lower-case letters, digits and '_' starting with a letter, "
            f"got {name!r} ({origin})"
        )
    if name in _RESERVED:
        raise ValueError(
            f"loss name {name!r} ({origin}) is reserved: `--losses {name}` selects several losses"
        )
    if not callable(obj):
        raise TypeError(f"loss {name!r} ({origin}) must be a class or callable, got {obj!r}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not obj:
        raise ValueError(
            f"loss name {name!r} is already registered by {_qualname(existing)}; "
            f"{_qualname(obj)} ({origin}) cannot take it"
        )
    _REGISTRY[name] = obj


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def register_loss(name: str) -> Callable[[T], T]:
    """Class decorator that registers a loss under ``name``.

    Raises:
        ValueError: if ``name`` is not a lower-case identifier or is already taken by another
            object.

    Example:
        >>> import torch
        >>> @register_loss("doc_example_l1")
        ... class L1(torch.nn.Module):
        ...     family, citation = "example", "none"
        ...     def forward(self, logits, target):
        ...         return (torch.sigmoid(logits[:, 0]) - target).abs().mean()
        >>> "doc_example_l1" in list_losses()
        True
        >>> _ = _REGISTRY.pop("doc_example_l1")  # keep the registry clean for other examples
    """

    def decorate(obj: T) -> T:
        _add(name, obj, f"registered by {_qualname(obj)}")
        return obj

    return decorate


def builtin_loss(
    name: str,
    class_name: str,
    *,
    family: str,
    citation: str,
    maps: Mapping[str, MapFunction] | None = None,
) -> Callable[[Term[P]], LossFunction[P]]:
    """Declare a built-in loss, once, by decorating its per-unit term.

    The term becomes the public functional (see :func:`loss_function`; ``maps`` declares the
    target maps the term takes). Its ``nn.Module`` form, a :class:`Loss` named ``class_name``
    whose constructor takes the functional's keyword hyper-parameters, gets ``family``,
    ``citation`` and the first line of the term's docstring, and is registered under ``name``.
    Both names are put in the term's module and appended to that module's ``__all__`` and to
    :func:`declared_names`.

    Example:
        >>> from lossbench.losses import region
        >>> cls = region.DiceLoss
        >>> cls is get_loss_class("dice"), cls.function is region.dice_loss, cls.family
        (True, True, 'region')
        >>> list(inspect.signature(cls).parameters)
        ['smooth', 'batch', 'reduction']
        >>> region.__all__[:2]
        ['dice_loss', 'DiceLoss']
    """

    def declare(term: Term[P]) -> LossFunction[P]:
        function = loss_function(term, maps)
        summary = (inspect.getdoc(term) or "").partition("\n")[0]
        namespace = {
            "__module__": term.__module__,
            "__qualname__": class_name,
            "__doc__": f"{summary}\n\nThe ``nn.Module`` form of :func:`{term.__name__}`, which "
            "documents the arguments; hyper-parameters are validated at construction.",
            "function": function,
            "family": family,
            "citation": citation,
        }
        cls = register_loss(name)(cast(type[Loss], type(class_name, (Loss,), namespace)))
        module = sys.modules[term.__module__]
        setattr(module, class_name, cls)
        vars(module).setdefault("__all__", []).extend([term.__name__, class_name])
        _DECLARED.extend([term.__name__, class_name])
        return function

    return declare


def declared_names() -> list[str]:
    """Names of the functionals and classes made by :func:`builtin_loss`, as declared.

    Example:
        >>> declared_names()[:4]
        ['dice_loss', 'DiceLoss', 'tversky_loss', 'TverskyLoss']
    """
    return list(_DECLARED)


@functools.cache
def _load_plugins() -> None:
    """Import every entry point of the group once; a broken plugin warns and is skipped."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not break the built-ins
            warnings.warn(
                f"lossbench: could not load loss plugin {ep.name!r} = {ep.value!r}: "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        _add(ep.name, obj, f"entry point {ep.value!r}")


def list_losses(pattern: str = "*") -> list[str]:
    """Names of the registered losses (built-in and plugins) matching a shell-style ``pattern``.

    Example:
        >>> list_losses("*tversky")
        ['focal_tversky', 'tversky']
    """
    _load_plugins()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_loss_class(name: str) -> Callable[..., nn.Module]:
    """The class (or factory) registered under ``name``.

    Raises:
        ValueError: for an unknown name, with the closest valid name.

    Example:
        >>> get_loss_class("dice").__name__
        'DiceLoss'
    """
    _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown loss {name!r}{suggest(str(name), _REGISTRY)} "
            f"(registered: {', '.join(sorted(_REGISTRY))})"
        )
    return _REGISTRY[name]


def create_loss(name: str, **params: Any) -> nn.Module:
    """Build the loss registered under ``name`` with keyword hyper-parameters.

    Every built-in also takes ``batch`` (pool region sums over the batch, default True) and
    ``reduction`` (``"mean"``: a scalar; ``"none"``: per-case losses (B,), region terms per case).

    Raises:
        ValueError: unknown name, or a hyper-parameter out of range.
        TypeError: unknown parameter name (with the closest valid one) or wrong type.

    Example:
        >>> create_loss("tversky", fp_weight=0.5, fn_weight=0.5)
        TverskyLoss(fp_weight=0.5, fn_weight=0.5, smooth=1e-05, batch=True, reduction='mean')
    """
    cls = get_loss_class(name)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # some callables have no introspectable signature
        signature = None
    if signature is not None and not any(
        p.kind is p.VAR_KEYWORD for p in signature.parameters.values()
    ):
        for key in params:
            if key not in signature.parameters:
                raise TypeError(
                    f"{name}: unknown parameter {key!r}{suggest(key, signature.parameters)} "
                    f"(valid: {', '.join(signature.parameters) or 'none'})"
                )
    return cls(**params)


def loss_defaults(name: str) -> dict[str, Any]:
    """Default hyper-parameters of a registered loss, from its signature.

    Example:
        >>> loss_defaults("focal")["gamma"]
        2.0
    """
    try:
        params = inspect.signature(get_loss_class(name)).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
