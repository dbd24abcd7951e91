"""The configuration: presets, overrides, the TOML round trip and the one validation gate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from lossbench.config import apply_overrides, from_toml, legacy_table, preset, to_toml, validate


def test_overrides_name_the_key_and_the_type() -> None:
    with pytest.raises(ValueError, match="unknown config key 'train.iteration'; did you mean"):
        apply_overrides(preset("quick"), ["train.iteration=3"])
    with pytest.raises(ValueError, match="unknown config section 'trian'"):
        apply_overrides(preset("quick"), ["trian.iterations=3"])
    with pytest.raises(ValueError, match="train.iterations must be an integer, got 'many'"):
        apply_overrides(preset("quick"), ["train.iterations=many"])
    with pytest.raises(ValueError, match="an override must be section.key=value"):
        apply_overrides(preset("quick"), ["train.iterations"])


def test_round_trip_keeps_every_value(tmp_path: Path) -> None:
    config = apply_overrides(preset("paper"), ["data.source=/data/msseg2", "eval.overlap=0.25"])
    (tmp_path / "c.toml").write_text(to_toml(config))
    assert dataclasses.asdict(from_toml(tmp_path / "c.toml")) == dataclasses.asdict(config)


def test_a_01_config_toml_is_read_with_its_tables_skipped_and_readable(tmp_path: Path) -> None:
    config = apply_overrides(preset("quick"), ["eval.overlap=0.25"])
    tables = '\n[environment]\ntorch = "x"\n\n[test_data]\nroot = "data/test"\ncase_ids = ["1"]\n'
    (tmp_path / "c.toml").write_text(to_toml(config) + tables)
    assert dataclasses.asdict(from_toml(tmp_path / "c.toml")) == dataclasses.asdict(config)
    assert legacy_table(tmp_path / "c.toml", "test_data")["case_ids"] == ["1"]


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
        ({"losses": ["all", "relesed"]}, ValueError, "losses: unknown loss 'relesed'"),
        ({"device": "gpu"}, ValueError, "device must be 'auto', 'cpu' or 'cuda', got 'gpu'"),
        ({"preset": "fast"}, ValueError, "preset must be one of"),
    ],
)
def test_the_gate_checks_losses_device_and_preset(
    changes: dict[str, object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        validate(dataclasses.replace(preset("quick"), **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("losses", [["all", "released"], ["hytver", "released"], ["released"]])
def test_the_gate_takes_the_selection_words_with_names(losses: list[str]) -> None:
    validate(dataclasses.replace(preset("quick"), losses=losses))


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


def test_a_section_or_the_preset_cannot_be_set_as_a_key() -> None:
    with pytest.raises(
        ValueError,
        match=r"'data' is a section, not a key: set one of its keys "
        r"\(data.source, data.phantom, data.centre, data.cases",
    ):
        apply_overrides(preset("quick"), ["data=1"])
    with pytest.raises(
        ValueError, match="'preset' chooses a whole protocol, not a key: use the --preset flag"
    ):
        apply_overrides(preset("quick"), ["preset=paper"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[train]\niterations = "many"\n', "train.iterations must be an integer, got 'many'"),
        ("[train]\nlr = true\n", "train.lr must be a number, got True"),
        ("[data]\nshape = [48, 56.5, 48]\n", r"data.shape\[1\] must be an integer, got 56.5"),
        ('seeds = "0"\n', "seeds must be a list of integers, got '0'"),
        ("[eval]\nsave_predictions = 1\n", "eval.save_predictions must be true or false, got 1"),
    ],
)
def test_from_toml_refuses_a_value_of_another_type(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: {message}"):
        from_toml(path)


def test_validate_checks_the_types_of_a_config_built_in_python() -> None:
    config = preset("quick")
    config.seeds = ["0"]  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"seeds\[0\] must be an integer, got '0'"):
        validate(config)
    config = preset("quick")
    config.train.lr = 1  # an int where a float is due is a number
    assert validate(config) is config


def test_train_init_must_give_the_v_net_some_of_its_weights(tmp_path: Path) -> None:
    from lossbench.models import VNet

    config = apply_overrides(preset("quick"), [f"train.init={tmp_path / 'x.pt'}"])
    (tmp_path / "x.pt").write_text("not a state dict")
    with pytest.raises(ValueError, match=r"train.init: .*x.pt is not a state dict torch can load"):
        validate(config)
    torch.save([torch.zeros(2)], tmp_path / "x.pt")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        validate(config)
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "x.pt")
    with pytest.raises(
        ValueError, match=r"matches none of the \d+ weights of the configured V-Net"
    ):
        validate(config)
    torch.save(VNet(width=8, levels=3).state_dict(), tmp_path / "x.pt")
    assert validate(config) is config
    torch.save(VNet(width=3, levels=2).state_dict(), tmp_path / "x.pt")  # some weights match
    assert validate(config) is config


def test_a_config_written_before_the_anatomy_phantom_reads_as_the_blob_phantom(tmp_path) -> None:
    from lossbench.config import from_toml, to_toml

    written = to_toml(preset("quick"))
    old = "\n".join(line for line in written.splitlines() if not line.startswith("phantom ="))
    (tmp_path / "old.toml").write_text(old + "\n")
    (tmp_path / "new.toml").write_text(written)
    assert from_toml(tmp_path / "old.toml").data.phantom == "blobs"  # 0.1 and 0.2 made blobs
    assert from_toml(tmp_path / "new.toml").data.phantom == "anatomy"
