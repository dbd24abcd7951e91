"""The registry: listing, creating, duplicate names and plugins found through entry points."""

from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from lossbench.losses import Loss, create_loss, list_losses, register_loss
from lossbench.losses import registry as reg

PAPER = [
    "dice",
    "ce",
    "focal",
    "tversky",
    "symmetric_unified_focal",
    "asymmetric_unified_focal",
    "logcosh_dice",
    "dice_ce",
    "focal_dice",
    "focal_tversky",
    "combo",
    "weighted_ce",
    "hytver",
]
EXTRA = ["generalized_dice", "dice_pp", "hausdorff_dt", "boundary"]
DETECTION = [
    "topk",
    "dice_topk",
    "sensitivity_specificity",
    "blob_dice",
    "exp_log",
    "lovasz_hinge",
    "log_hausdorff_dt",
]
"""Losses built for lesion detection, and the field's strong baselines."""
RELEASED = [
    "hytver_released",
    "combo_released",
    "focal_released",
    "logcosh_dice_released",
    "dice_pp_released",
    "symmetric_unified_focal_released",
    "asymmetric_unified_focal_released",
]
"""The paper's losses as its authors' code computes them."""


def test_builtins_are_the_paper_thirteen_four_more_the_detection_losses_and_released() -> None:
    assert list_losses() == sorted(PAPER + EXTRA + DETECTION + RELEASED)


def test_pattern() -> None:
    assert list_losses("dice*") == ["dice", "dice_ce", "dice_pp", "dice_pp_released", "dice_topk"]
    assert list_losses("nothing*") == []


@pytest.mark.parametrize("name", PAPER + EXTRA + DETECTION)
def test_every_builtin_states_family_and_citation(name: str) -> None:
    cls = reg.get_loss_class(name)
    assert isinstance(cls, type) and issubclass(cls, Loss)
    assert cls.family in {"region", "distribution", "compound", "boundary"}
    assert len(cls.citation) > 20 and cls.__doc__


@pytest.mark.parametrize("name", RELEASED)
def test_each_released_variant_has_its_published_loss(name: str) -> None:
    cls = reg.get_loss_class(name)
    assert isinstance(cls, type) and issubclass(cls, Loss)
    assert cls.family == "released" and "released code" in cls.citation
    assert name.removesuffix("_released") in PAPER + EXTRA


def test_all_leaves_the_released_variants_out_and_released_selects_them() -> None:
    from lossbench.config import resolve_losses

    assert resolve_losses(["all"]) == sorted(PAPER + EXTRA + DETECTION)
    assert resolve_losses(["released"]) == sorted(RELEASED)
    assert resolve_losses(["all", "released"]) == sorted(PAPER + EXTRA + DETECTION) + sorted(
        RELEASED
    )
    assert resolve_losses(["hytver", "released", "hytver_released"])[:2] == [
        "hytver",
        "asymmetric_unified_focal_released",
    ]


@pytest.mark.parametrize("word", ["all", "released"])
def test_the_selection_words_cannot_be_loss_names(word: str) -> None:
    with pytest.raises(ValueError, match=f"loss name '{word}' .* is reserved"):
        register_loss(word)(torch.nn.Identity)


def test_duplicate_name_raises() -> None:
    with pytest.raises(ValueError, match="'dice' is already registered by lossbench"):

        @register_loss("dice")
        class Other(torch.nn.Module):
            pass


def test_bad_name_raises() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        register_loss("Bad-Name")(torch.nn.Module)


def _write_plugin(root: Path, dist: str, module: str, entries: dict[str, str], code: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[{reg.ENTRY_POINT_GROUP}]\n{lines}\n")


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path for fake installed distributions; registry restored afterwards."""
    before = dict(reg._REGISTRY)
    sys.path.insert(0, str(tmp_path))
    reg._load_plugins.cache_clear()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    reg._REGISTRY.clear()
    reg._REGISTRY.update(before)
    reg._load_plugins.cache_clear()


PLUGIN = """
    import torch

    class L1Loss(torch.nn.Module):
        family = "distribution"
        citation = "a test plugin"

        def __init__(self, scale: float = 1.0):
            super().__init__()
            self.scale = scale

        def forward(self, logits, target):
            error = torch.sigmoid(logits[:, 0]) - target.reshape(logits[:, 0].shape)
            return self.scale * error.abs().mean()
"""


def test_entry_point_plugin_shows_up_and_runs(plugin_dir: Path) -> None:
    _write_plugin(
        plugin_dir, "lb_plugin_ok", "lb_plugin_ok", {"l1_test": "lb_plugin_ok:L1Loss"}, PLUGIN
    )
    assert "l1_test" in list_losses()
    loss = create_loss("l1_test", scale=2.0)
    assert loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2)).item() == pytest.approx(1.0)
    with pytest.raises(TypeError, match=r"unknown parameter 'scal'; did you mean 'scale'"):
        create_loss("l1_test", scal=2.0)


def test_broken_plugin_warns_and_is_skipped(plugin_dir: Path) -> None:
    _write_plugin(
        plugin_dir, "lb_plugin_bad", "lb_plugin_bad", {"bad_test": "lb_plugin_bad:Nope"}, "x = 1\n"
    )
    with pytest.warns(RuntimeWarning, match="could not load loss plugin 'bad_test'"):
        names = list_losses()
    assert "bad_test" not in names and "dice" in names


def test_plugin_cannot_take_a_builtin_name(plugin_dir: Path) -> None:
    _write_plugin(
        plugin_dir, "lb_plugin_dup", "lb_plugin_dup", {"dice": "lb_plugin_dup:L1Loss"}, PLUGIN
    )
    with warnings.catch_warnings(), pytest.raises(ValueError, match="'dice' is already registered"):
        list_losses()
