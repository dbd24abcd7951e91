"""A run on an nnU-Net raw dataset exported from the phantom gives the phantom run's table, and
``lossbench data export`` writes the quick preset's phantom."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from lossbench.cli import main
from lossbench.data import load_dataset
from lossbench.data.nnunet import NnunetDataset, export_nnunet
from lossbench.results import load
from lossbench.run import run
from tests._helpers.runs import tiny


def test_a_run_on_the_exported_phantom_equals_the_run_on_the_phantom(tmp_path: Path) -> None:
    config = tiny(["dice"])
    run(config, tmp_path / "phantom", progress=False)
    dataset = tmp_path / "Dataset502_Tiny"
    data = config.data
    from lossbench.layout import RunLayout

    train = load_dataset(RunLayout(tmp_path / "phantom").data("train"))
    test = load_dataset(RunLayout(tmp_path / "phantom").data("test"))
    export_nnunet(train, dataset, test)
    other = dataclasses.replace(config, data=dataclasses.replace(data, source=str(dataset)))
    run(other, tmp_path / "nnunet", progress=False)
    a, b = load(tmp_path / "phantom"), load(tmp_path / "nnunet")
    pd.testing.assert_frame_equal(a.drop(columns="train_seconds"), b.drop(columns="train_seconds"))
    args = ["data", "export", "--format", "nnunet", "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    assert len(NnunetDataset(tmp_path / "cli", "Ts")) == 32  # the quick preset's test set
