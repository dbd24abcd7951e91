"""Each built-in loss is declared once and yields a functional and a class that agree."""

from __future__ import annotations

import ast
import inspect
import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch

import lossbench.losses
from lossbench.losses import (
    CELoss,
    DiceLoss,
    DicePPLoss,
    HyTverLoss,
    Loss,
    TverskyLoss,
    WeightedCELoss,
    get_loss_class,
    list_losses,
)
from lossbench.losses._core import Reduction
from tests._helpers import random_case

CLASSES = [
    "DiceLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
    "LogCoshDiceLoss",
    "GeneralizedDiceLoss",
    "DicePPLoss",
    "CELoss",
    "WeightedCELoss",
    "FocalLoss",
    "DiceCELoss",
    "FocalDiceLoss",
    "ComboLoss",
    "HyTverLoss",
    "SymmetricUnifiedFocalLoss",
    "AsymmetricUnifiedFocalLoss",
    "HausdorffDTLoss",
    "BoundaryLoss",
    "TopKLoss",
    "DiceTopKLoss",
    "SensitivitySpecificityLoss",
    "BlobDiceLoss",
    "ExpLogLoss",
    "LovaszHingeLoss",
    "LogHausdorffDTLoss",
    "HyTverReleasedLoss",
    "ComboReleasedLoss",
    "FocalReleasedLoss",
    "LogCoshDiceReleasedLoss",
    "DicePPReleasedLoss",
    "SymmetricUnifiedFocalReleasedLoss",
    "AsymmetricUnifiedFocalReleasedLoss",
]
NODES = [
    node
    for path in sorted(Path(lossbench.losses.__file__).parent.glob("*.py"))
    for node in ast.walk(ast.parse(path.read_text()))
]
# (registry name, class name) of every @builtin_loss(...) in lossbench/losses
DECLARED = [
    (ast.literal_eval(node.args[0]), ast.literal_eval(node.args[1]))
    for node in NODES
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "builtin_loss"
]


def builtin(name: str) -> type[Loss]:
    """The class registered under ``name``, checked to be a :class:`Loss`."""
    cls = get_loss_class(name)
    assert isinstance(cls, type) and issubclass(cls, Loss)
    return cls


BUILTINS = [builtin(name) for name, _ in DECLARED]


def test_all_lists_every_class_and_functional() -> None:
    exported = lossbench.losses.__all__
    functionals = {cls.function.__name__ for cls in BUILTINS}
    assert {cls.__name__ for cls in BUILTINS} == set(CLASSES) and len(functionals) == len(CLASSES)
    assert set(CLASSES) | functionals <= set(exported) and len(set(exported)) == len(exported)
    assert all(hasattr(lossbench.losses, name) for name in exported)


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.__name__)
def test_class_signature_is_the_functional_keywords(cls: type[Loss]) -> None:
    keywords = [
        p for p in inspect.signature(cls.function).parameters.values() if p.kind is p.KEYWORD_ONLY
    ]
    assert list(inspect.signature(cls).parameters.values()) == keywords
    assert [p.name for p in keywords][-2:] == ["batch", "reduction"]


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.__name__)
def test_class_and_functional_live_in_one_module(cls: type[Loss]) -> None:
    function = cls.function
    module = inspect.getmodule(function)
    assert module is not None and cls.__module__ == function.__module__ == module.__name__
    assert getattr(module, cls.__name__) is cls and cls.__qualname__ == cls.__name__
    assert {cls.__name__, function.__name__} <= set(vars(module)["__all__"])
    assert getattr(lossbench.losses, cls.__name__) is cls
    assert getattr(lossbench.losses, function.__name__) is function


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.__name__)
def test_class_docstring_points_to_the_functional(cls: type[Loss]) -> None:
    summary = (inspect.getdoc(cls.function) or "").splitlines()[0]
    assert (cls.__doc__ or "").startswith(f"{summary}\n")
    assert f":func:`{cls.function.__name__}`" in (cls.__doc__ or "")


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.__name__)
def test_class_computes_the_functional(cls: type[Loss]) -> None:
    logits, target = random_case(7, shape=(2, 1, 5, 4, 3))
    runs: list[tuple[bool, Reduction]] = [(True, "mean"), (False, "none")]
    for batch, reduction in runs:
        module = cls(batch=batch, reduction=reduction)
        expected = cls.function(logits, target, batch=batch, reduction=reduction)
        assert torch.equal(module(logits, target), expected)


@pytest.mark.parametrize("cls", BUILTINS, ids=lambda cls: cls.__name__)
def test_class_pickles(cls: type[Loss]) -> None:
    loss = cls(reduction="none")
    copy = pickle.loads(pickle.dumps(loss))
    assert type(copy) is cls and copy.params == loss.params and repr(copy) == repr(loss)


def test_repr_and_params() -> None:
    assert repr(TverskyLoss(fp_weight=0.5, fn_weight=0.5)) == (
        "TverskyLoss(fp_weight=0.5, fn_weight=0.5, smooth=1e-05, batch=True, reduction='mean')"
    )
    assert repr(WeightedCELoss()) == "WeightedCELoss(pos_weight=0.9, batch=True, reduction='mean')"
    assert repr(CELoss(batch=False)) == "CELoss(batch=False, reduction='mean')"
    assert DicePPLoss().params["gamma"] == 2.0
    assert list(HyTverLoss().params) == ["alpha", "beta", "gamma", "smooth", "batch", "reduction"]
    value = DiceLoss(smooth=0.0)(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    assert value.item() == pytest.approx(1 / 3)


def test_class_validates_like_the_functional() -> None:
    with pytest.raises(TypeError, match=r"TverskyLoss: unknown parameter 'fp_wieght'"):
        TverskyLoss(fp_wieght=0.5)
    with pytest.raises(ValueError, match=r"HyTverLoss: `reduction` must be one of"):
        HyTverLoss(reduction="sum")  # type: ignore[arg-type]


def test_each_loss_is_named_in_one_declaration() -> None:
    assert sorted(class_name for _, class_name in DECLARED) == sorted(CLASSES)
    assert [(name, builtin(name).__name__) for name, _ in DECLARED] == DECLARED
    shipped = [n for n in list_losses() if get_loss_class(n).__module__.startswith("lossbench.")]
    assert sorted(shipped) == sorted(name for name, _ in DECLARED)
    strings = Counter(
        node.value
        for node in NODES
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )
    arguments = Counter(
        arg.value
        for node in NODES
        if isinstance(node, ast.Call)
        for arg in node.args
        if isinstance(arg, ast.Constant)
    )
    definitions = Counter(
        node.name for node in NODES if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    )
    for name, class_name in DECLARED:
        assert arguments[name] == 1, name  # registered by one call
        assert strings[class_name] == 1, class_name  # in no hand-written __all__
        assert definitions[class_name] == 0, class_name  # no class block
        assert definitions[builtin(name).function.__name__] == 1, name
