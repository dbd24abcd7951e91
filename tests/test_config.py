"""The configuration: presets, overrides, the TOML round trip and the one validation gate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from lossbench.config import apply_overrides, from_toml, preset, stored_table, to_toml, validate


def test_overrides_name_the_key_and_the_type() -> None:
    with pytest.raises(ValueError, match="unknown config key 'train.iteration'; did you mean"):
        apply_overrides(preset("quick"), ["train.iteration=3"])
    with pytest.raises(ValueError, match="unknown config section 'trian'"):
        apply_overrides(preset("quick"), ["trian.iterations=3"])
    with pytest.raises(ValueError, match="train.iterations must be an integer, got 'many'"):
        apply_overrides(preset("quick"), ["train.iterations=many"])
    with pytest.raises(ValueError, match="an override must be section.key=value"):
        apply_overrides(preset("quick"), ["train.iterations"])


def test_round_trip_keeps_every_value_and_the_stored_tables(tmp_path: Path) -> None:
    config = apply_overrides(preset("paper"), ["data.source=/data/msseg2", "eval.overlap=0.25"])
    extra: dict[str, dict[str, object]] = {
        "environment": {"torch": "x"},
        "test_data": {"root": "data/test", "case_ids": ["1"]},
    }
    (tmp_path / "c.toml").write_text(to_toml(config, extra))
    assert dataclasses.asdict(from_toml(tmp_path / "c.toml")) == dataclasses.asdict(config)
    assert stored_table(tmp_path / "c.toml", "test_data")["case_ids"] == ["1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\niteration = 3\n", r"unknown key 'train.iteration'; did you mean 'iterations'"),
        ("[trian]\niterations = 3\n", r"unknown key 'trian'; did you mean 'train'"),
        ("losses = [\n", "not valid TOML"),
        ("train = 3\n", r"'train' must be a table \[train\]"),
    ],
)
def test_from_toml_refuses_what_set_refuses(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        from_toml(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"losses": ["dise"]}, ValueError, "losses: unknown loss 'dise'; did you mean 'dice'"),
        ({"losses": []}, ValueError, "losses must name at least one loss"),
        ({"losses": ["all", "dice"]}, ValueError, "losses must be"),
        ({"device": "gpu"}, ValueError, "device must be 'auto', 'cpu' or 'cuda', got 'gpu'"),
        ({"preset": "fast"}, ValueError, "preset must be one of"),
    ],
)
def test_the_gate_checks_losses_device_and_preset(
    changes: dict[str, object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        validate(dataclasses.replace(preset("quick"), **changes))  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_the_gate_refuses_cuda_without_a_device() -> None:
    with pytest.raises(ValueError, match="device is 'cuda', but torch sees no CUDA device"):
        validate(dataclasses.replace(preset("quick"), device="cuda"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.levels=1", "model.levels must be at least 2 for the V-Net, got 1"),
        ("train.patch_size=26", r"train.patch_size must be a multiple of 4 for a V-Net of 3 "),
        ("data.shape=20,30,30", "data.shape must be at least 24 voxels per axis"),
    ],
)
def test_the_gate_asks_the_owners_constraints(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(apply_overrides(preset("quick"), [setting]))


def test_the_gate_checks_the_data_source(tmp_path: Path) -> None:
    config = preset("quick")
    config.data.source = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="data.source must be 'synthetic' or a dataset"):
        validate(config)
    (tmp_path / "case1").mkdir()
    config.data.source = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="data.source: .* no case folder holds"):
        validate(config)
