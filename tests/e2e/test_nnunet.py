"""Every loss as an nnU-Net v2 trainer: found by nnU-Net by name, nnU-Net's deep-supervision
weights around lossbench's loss, binary tasks only; and a whole benchmark through nnU-Net's own
commands (plan and preprocess, train, predict) on a tiny phantom, on the CPU."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip(
    "nnunetv2", reason='the nnunet extra is not installed (pip install -e ".[nnunet]")'
)

from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

from lossbench.cli import main
from lossbench.data import generate_case
from lossbench.data.nnunet import export_nnunet
from lossbench.integrations import nnunet
from lossbench.integrations.nnunet_benchmark import BenchmarkSettings, benchmark
from lossbench.losses import create_loss, list_losses
from lossbench.results import load

DATASET = "Dataset987_LossbenchTiny"
TRAINED = ["dice", "hytver"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tiny phantom as an nnU-Net raw dataset (6 training, 3 test cases of 32^3 voxels),
    benchmarked through nnU-Net for dice and hytver: 1 epoch of 2 iterations each."""
    root = tmp_path_factory.mktemp("nnunet")
    train = [
        generate_case(i, shape=(32, 32, 32), new_lesions=True, phantom="blobs") for i in range(6)
    ]
    test = [
        generate_case(100 + i, shape=(32, 32, 32), new_lesions=i < 2, phantom="blobs")
        for i in range(3)
    ]
    export_nnunet(train, root / "raw" / DATASET, test)
    settings = BenchmarkSettings(losses=TRAINED, epochs=1, iterations=2, device="cpu")
    benchmark(root / "raw" / DATASET, settings, root / "bench", progress=False)
    with pytest.MonkeyPatch.context() as patch:  # for the trainers the tests make in-process
        patch.setenv("nnUNet_preprocessed", str(root / "bench" / "nnUNet_preprocessed"))
        patch.setenv("nnUNet_results", str(root / "in-process-results"))
        yield root / "bench"


def _trainer(bench: Path, loss: str, labels: dict | None = None) -> nnunet.LossbenchTrainer:
    pre = bench / "nnUNet_preprocessed" / DATASET
    plans = json.loads((pre / "nnUNetPlans.json").read_text()) | {"continue_training": False}
    dataset_json = json.loads((pre / "dataset.json").read_text())
    if labels is not None:
        dataset_json["labels"] = labels
    cls = nnunet.trainer_class(nnunet.trainer_name(loss))
    return cls(plans, "3d_fullres", 0, dataset_json, torch.device("cpu"))


def _weighted_sum(loss: torch.nn.Module, outputs: list, targets: list) -> float:
    """nnU-Net's deep-supervision sum, written out here: weights 1/2^i, the last 0, normalised
    to sum to 1, over lossbench's loss of each output."""
    raw = [1 / 2**i for i in range(len(outputs))]
    raw[-1] = 0.0
    weights = [w / sum(raw) for w in raw]
    pairs = zip(weights, outputs, targets, strict=True)
    return sum(w * float(loss(o, t)) for w, o, t in pairs if w)


def _batch(trainer: nnunet.LossbenchTrainer, seed: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """An input patch and nnU-Net-shaped targets: (B, 1, ...) integers at each output's size."""
    generator = torch.Generator().manual_seed(seed)
    patch = trainer.configuration_manager.patch_size
    data = torch.randn(2, 2, *patch, generator=generator)
    full = (torch.rand(2, 1, *patch, generator=generator) > 0.8).float()
    with torch.no_grad():
        outputs = trainer.network(data)
    targets = []
    for out in outputs:
        steps = [full.shape[d + 2] // out.shape[d + 2] for d in range(3)]
        targets.append(full[:, :, :: steps[0], :: steps[1], :: steps[2]].contiguous())
    return data, targets


# --- found by name -------------------------------------------------------------------------


def test_every_registered_loss_has_a_trainer_class() -> None:
    for loss in list_losses():
        cls = nnunet.trainer_class(f"nnUNetTrainer_lb_{loss}")
        assert cls.__name__ == f"nnUNetTrainer_lb_{loss}" and cls.loss_name == loss
        assert getattr(nnunet, cls.__name__) is cls
        assert pickle.loads(pickle.dumps(cls)) is cls
    with pytest.raises(AttributeError, match="not a lossbench trainer"):
        nnunet.trainer_class("nnUNetTrainer_lb_nope")


def test_the_extra_trainer_folder_answers_nnunets_own_search() -> None:
    """nnU-Net searches each nnUNet_extTrainer folder with this call."""
    folder = str(nnunet.extra_trainer_folder())

    def find(name: str) -> type | None:
        return recursive_find_python_class(
            folder, name, None, base_folder=folder, cleanup_imports_from_base_folder=True
        )

    assert find("nnUNetTrainer_lb_hytver") is nnunet.trainer_class("nnUNetTrainer_lb_hytver")
    assert find("nnUNetTrainer_lb_nope") is None and find("nnUNetTrainer") is None


def test_install_writes_one_module_that_uninstall_removes(tmp_path: Path) -> None:
    path = nnunet.install(tmp_path)
    assert path == tmp_path / "lossbench_trainers.py" and nnunet.install(tmp_path) == path
    assert recursive_find_python_class(str(tmp_path), "nnUNetTrainer_lb_dice", None) is (
        nnunet.trainer_class("nnUNetTrainer_lb_dice")
    )
    assert nnunet.uninstall(tmp_path) == path and not path.exists()
    assert nnunet.uninstall(tmp_path) is None
    path.write_text("class Mine: ...\n")
    with pytest.raises(FileExistsError, match="not written by lossbench"):
        nnunet.install(tmp_path)
    with pytest.raises(FileExistsError, match="not written by lossbench"):
        nnunet.uninstall(tmp_path)
    assert path.read_text() == "class Mine: ...\n"


def test_the_cli_installs_into_nnunets_trainer_folder(capsys: pytest.CaptureFixture) -> None:
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    assert main(["nnunet", "install"]) == 0
    assert "lossbench_trainers.py" in capsys.readouterr().out
    found = recursive_find_trainer_class_by_name("nnUNetTrainer_lb_focal_tversky")
    assert found is nnunet.trainer_class("nnUNetTrainer_lb_focal_tversky")
    assert main(["nnunet", "list"]) == 0
    assert "nnUNetTrainer_lb_hytver" in capsys.readouterr().out.split()
    assert main(["nnunet", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(nnunet.extra_trainer_folder())


def test_without_the_extra_the_cli_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['nnunetv2'] = None; from lossbench.cli import main; "
        "sys.exit(main(['nnunet', 'list']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert 'pip install -e ".[nnunet]"' in done.stderr and "Traceback" not in done.stderr


def test_settings_from_the_environment_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(nnunet.TRAINER_ENV, '{"num_epochs": 3, "initial_lr": 0.001}')
    assert nnunet.trainer_settings() == {"num_epochs": 3, "initial_lr": 0.001}
    for text, match in (
        ('{"num_epoch": 3}', "unknown setting 'num_epoch'"),
        ('{"num_epochs": 2.5}', "num_epochs must be int"),
        ("[1]", "JSON object"),
        ("{", "JSON object"),
    ):
        monkeypatch.setenv(nnunet.TRAINER_ENV, text)
        with pytest.raises(ValueError, match=match):
            nnunet.trainer_settings()


def test_binary_label_refuses_other_tasks() -> None:
    assert nnunet.binary_label({"background": 0, "lesion": 2}) == 2
    for labels, match in (
        ({"background": 0, "a": 1, "b": 2}, "binary"),
        ({"background": 0, "a": 1, "ignore": 2}, "ignore label"),
        ({"background": 0, "a": [1, 2]}, "regions"),
        ({"background": 0}, "binary"),
    ):
        with pytest.raises(ValueError, match=match):
            nnunet.binary_label(labels)


# --- the loss inside nnU-Net's trainer -----------------------------------------------------


@pytest.mark.slow
def test_every_loss_gives_nnunet_weighted_sum_of_lossbench_losses(bench: Path) -> None:
    for loss in list_losses():
        trainer = _trainer(bench, loss)
        trainer.initialize()
        assert isinstance(trainer.loss, DeepSupervisionWrapper)
        data, targets = _batch(trainer, seed=len(loss))
        with torch.no_grad():
            outputs = trainer.network(data)
            got = float(trainer.loss(outputs, targets))
            expected = _weighted_sum(create_loss(loss), outputs, targets)
        assert len(outputs) > 2 and outputs[0].shape[1] == 2
        assert math.isfinite(got), loss
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6), loss


@pytest.mark.slow
def test_a_training_step_returns_that_loss_and_reports_progress(bench: Path) -> None:
    trainer = _trainer(bench, "boundary")
    trainer.initialize()
    data, targets = _batch(trainer, seed=3)
    with torch.no_grad():
        outputs = trainer.network(data)
        expected = _weighted_sum(create_loss("boundary", progress=0.0), outputs, targets)
    step = trainer.train_step({"data": data, "target": targets})
    assert float(step["loss"]) == pytest.approx(expected, rel=1e-5)
    trainer.train_step({"data": data, "target": targets})
    total = trainer.num_epochs * trainer.num_iterations_per_epoch
    wrapped: Any = trainer.loss
    assert wrapped.loss.params["progress"] == pytest.approx(1 / total)


@pytest.mark.slow
def test_without_deep_supervision_the_loss_is_lossbench_s(
    bench: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(nnunet.TRAINER_ENV, '{"enable_deep_supervision": false}')
    monkeypatch.setenv(nnunet.PARAMS_ENV, '{"hytver": {"beta": 0.8}}')
    trainer = _trainer(bench, "hytver")
    trainer.initialize()
    loss: Any = trainer.loss
    assert loss.params["beta"] == 0.8
    assert type(loss) is type(create_loss("hytver"))
    assert trainer.enable_deep_supervision is False
    monkeypatch.setenv(nnunet.PARAMS_ENV, '{"hytvr": {"beta": 0.8}}')
    with pytest.raises(ValueError, match="'hytvr' is not a registered loss"):
        _trainer(bench, "hytver").initialize()


@pytest.mark.slow
def test_a_dataset_with_two_foreground_labels_is_refused(bench: Path) -> None:
    with pytest.raises(ValueError, match="lossbench's losses are binary"):
        _trainer(bench, "dice", labels={"background": 0, "edema": 1, "tumour": 2})


# --- the benchmark through nnU-Net's own commands ------------------------------------------


@pytest.mark.slow
def test_the_benchmark_trains_predicts_and_scores(bench: Path) -> None:
    record = json.loads((bench / "benchmark.json").read_text())
    assert record["failed"] == [] and record["settings"]["losses"] == TRAINED
    models = bench / "nnUNet_results" / DATASET
    for loss in TRAINED:
        fold = models / f"nnUNetTrainer_lb_{loss}__nnUNetPlans__3d_fullres" / "fold_0"
        checkpoint = torch.load(
            fold / "checkpoint_final.pth", map_location="cpu", weights_only=False
        )
        assert checkpoint["trainer_name"] == f"nnUNetTrainer_lb_{loss}"
        logged = checkpoint["logging"]["train_losses"]
        assert len(logged) == 1 and np.isfinite(logged).all()
        used = json.loads((fold / "lossbench_loss.json").read_text())
        assert used["loss"] == loss and used["params"] == create_loss(loss).params
        assert used["trainer_settings"]["num_iterations_per_epoch"] == 2
        assert not (fold / "validation").exists()  # the benchmark skips it unless --validate
        predicted = sorted(p.name for p in (bench / "predictions" / loss).glob("*.nii.gz"))
        assert predicted == ["case_100.nii.gz", "case_101.nii.gz", "case_102.nii.gz"]
    table = load(bench)
    assert sorted(table["method"].unique()) == TRAINED and len(table) == 6
    assert (bench / "report.md").is_file() and "method" in (bench / "summary.json").read_text()


@pytest.mark.slow
def test_lossbench_score_reads_the_predictions(bench: Path, tmp_path: Path) -> None:
    raw = Path(json.loads((bench / "benchmark.json").read_text())["dataset_path"])
    argv = ["score", "--ref", str(raw / "labelsTs"), "--out", str(tmp_path), "--workers", "1"]
    for loss in TRAINED:
        argv += ["--pred", f"{loss}={bench / 'predictions' / loss}"]
    assert main(argv) == 0
    columns = ["method", "case_id", "dice", "hd95", "lesion_f1"]
    pd.testing.assert_frame_equal(load(tmp_path)[columns], load(bench)[columns])


@pytest.mark.slow
def test_a_rerun_resumes_and_other_settings_are_refused(bench: Path) -> None:
    raw = json.loads((bench / "benchmark.json").read_text())["dataset_path"]
    settings = BenchmarkSettings(losses=TRAINED, epochs=1, iterations=2, device="cpu")
    record = benchmark(raw, settings, bench, progress=False)
    assert record["done"] == [] and record["failed"] == []
    settings.epochs = 2
    with pytest.raises(ValueError, match="epochs: 1 there, 2 here"):
        benchmark(raw, settings, bench, progress=False)


def test_the_benchmark_refuses_bad_datasets_before_nnunet_starts(tmp_path: Path) -> None:
    case = generate_case(0, shape=(24, 24, 24), new_lesions=True, phantom="blobs")
    root = tmp_path / "Dataset988_Few"
    export_nnunet([case] * 3, root, [case])
    settings = BenchmarkSettings(losses=["dice"], device="cpu")
    with pytest.raises(ValueError, match="need at least 5"):
        benchmark(root, settings, tmp_path / "out", progress=False)
    meta = json.loads((root / "dataset.json").read_text())
    meta["labels"] = {"background": 0, "a": 1, "b": 2}
    (root / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="binary"):
        benchmark(root, settings, tmp_path / "out", progress=False)
    wrong = tmp_path / "Phantom"
    export_nnunet([case] * 5, wrong, [case])
    with pytest.raises(ValueError, match="DatasetXXX_Name"):
        benchmark(wrong, settings, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_the_benchmark_writes_only_into_its_own_folder(tmp_path: Path) -> None:
    case = generate_case(0, shape=(24, 24, 24), new_lesions=True, phantom="blobs")
    root = tmp_path / "Dataset989_Five"
    cases = [dataclasses.replace(case, case_id=f"case_{i}") for i in range(5)]
    export_nnunet(cases, root, [case])
    settings = BenchmarkSettings(losses=["dice"], device="cpu")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    with pytest.raises(ValueError, match="mine holds notes.txt and no lossbench nnU-Net benchmark"):
        benchmark(root, settings, mine, progress=False)
    with pytest.raises(ValueError, match="lies inside the dataset"):
        benchmark(root, settings, root / "bench", progress=False)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and not (root / "bench").exists()
