"""The grid of trials (losses x seeds), the run directory, resume and the results table.

    runs/<name>/config.toml            resolved configuration, versions, device, git revision
    runs/<name>/data/train|test/       synthetic cases (when the data is synthetic)
    runs/<name>/pretrain/model.pt      the shared starting point (train.init = "pretrain")
    runs/<name>/trials/<loss>-seed<k>/ checkpoint, history.csv, metrics.csv, predictions
    runs/<name>/results.parquet|csv    every trial's per-case metrics
    runs/<name>/failures.csv           trials stopped by a non-finite loss

A trial is a pure function of (resolved config, loss, seed) that writes only its own folder; a
finished trial (``metrics.csv`` present) is never recomputed, an interrupted one resumes from
its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from lossbench.config import Config, from_toml, to_toml, validate
from lossbench.data import load_dataset, synthesize
from lossbench.data.msseg2 import FILES, Dataset
from lossbench.data.preprocess import PreparedCase, prepare_case, to_native
from lossbench.infer import sliding_window
from lossbench.losses import get_loss_class, list_losses
from lossbench.metrics import evaluate_case
from lossbench.train import NonFiniteLossError, build_model, train_trial

__all__ = ["PAPER_SPLIT", "plan", "resolve_device", "resolve_losses", "run"]

PAPER_SPLIT = {
    "train": "015 016 018 019 020 021 024 029 030 032 035 037 039 043 047 048 049 051 052 057 061 "
    "068 069 070 074 077 083 084 088 089 090 096".split(),
    "test": "013 026 027 091 094 095 099 100".split(),
}


def resolve_losses(names: Sequence[str]) -> list[str]:
    """``["all"]`` or registered names (unknown ones raise with a did-you-mean).

    Example:
        >>> resolve_losses(["dice", "hytver"])
        ['dice', 'hytver']
    """
    if list(names) == ["all"]:
        return list_losses()
    for name in names:
        get_loss_class(name)  # raises ValueError with the closest name
    return list(dict.fromkeys(names))


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu`` or ``cuda``.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def _environment(device: torch.device) -> dict[str, dict[str, str]]:
    import lossbench

    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(lossbench.__file__).parent, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        revision = ""
    return {
        "environment": {
            "lossbench": lossbench.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(0)
            if device.type == "cuda"
            else platform.processor(),
            "git_revision": revision or "unknown",
        }
    }


def _split(config: Config, out: Path) -> tuple[Dataset, Dataset]:
    data = config.data
    if data.source == "synthetic":
        shape = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
        spacing = (float(data.spacing[0]), float(data.spacing[1]), float(data.spacing[2]))
        free = data.lesion_free
        train = synthesize(out / "data" / "train", data.cases, data.seed, shape, spacing,
                           lesion_free=free)  # fmt: skip
        test = synthesize(out / "data" / "test", data.test_cases, data.seed + 1, shape, spacing,
                          lesion_free=free)  # fmt: skip
        return load_dataset(train[0].parent), load_dataset(test[0].parent)
    root = Path(data.source)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--data {root}: not a folder (expected 'synthetic' or an MSSEG-2 folder)"
        )
    ids = load_dataset(root).case_ids
    complete = [
        i
        for i in ids
        if all((root / i / FILES[k]).is_file() for k in ("baseline", "followup", "label"))
    ]
    if not complete:
        raise FileNotFoundError(
            f"--data {root}: no case folder holds {FILES['baseline']}, {FILES['followup']} and "
            f"{FILES['label']}; expected ROOT/<case_id>/ with those files"
        )
    if set(PAPER_SPLIT["train"] + PAPER_SPLIT["test"]) <= set(complete):
        return load_dataset(root, PAPER_SPLIT["train"]), load_dataset(root, PAPER_SPLIT["test"])
    order = np.random.default_rng(data.seed).permutation(len(complete))
    n_test = max(1, round(data.test_fraction * len(complete)))
    test_ids = sorted(complete[i] for i in order[:n_test])
    train_ids = sorted(complete[i] for i in order[n_test:])
    return load_dataset(root, train_ids), load_dataset(root, test_ids)


def _prepare(dataset: Dataset, config: Config, desc: str, progress: bool) -> list[PreparedCase]:
    target = config.data.target_spacing or None
    return [
        prepare_case(c, target)
        for c in tqdm(dataset, desc=desc, unit="case", disable=not progress, leave=False)
    ]


def plan(config: Config, losses: Sequence[str]) -> str:
    """The trial plan and an estimated time (from the measured speed of one training step).

    Example:
        >>> from lossbench.config import preset
        >>> "trials" in plan(preset("quick"), ["dice"])
        True
    """
    device = resolve_device(config.device)
    validate(config)
    model = build_model(config, 0).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    size = config.train.patch_size
    x = torch.randn(config.train.batch_size, 3, size, size, size, device=device)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        optimizer.zero_grad()
        model(x).mean().backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    step = float(np.median(timings))
    trials = len(losses) * len(config.seeds)
    steps = trials * config.train.iterations
    steps += config.train.pretrain_iterations if config.train.init == "pretrain" else 0
    data, train = config.data, config.train
    source = data.source
    if source == "synthetic":
        source += f" ({data.cases} train / {data.test_cases} test cases)"
    pretraining = ""
    if train.init == "pretrain":
        pretraining = f" after a {train.pretrain_iterations}-iteration pretraining"
    lines = [
        f"preset {config.preset}: {len(losses)} losses x {len(config.seeds)} seeds = "
        f"{trials} trials",
        f"losses: {', '.join(losses)}",
        f"data: {source}",
        f"model: V-Net width {config.model.width}, {config.model.levels} levels; patch "
        f"{size}^3, batch {train.batch_size}, {train.iterations} iterations per trial"
        + pretraining,
        f"device {device}: {step * 1000:.0f} ms per step -> about {steps * step / 60:.1f} min of "
        "training, plus data generation and evaluation",
    ]
    return "\n".join(lines)


def _pretrain(
    config: Config, cases: list, out: Path, device: torch.device, progress: bool
) -> dict | None:
    train = config.train
    if train.init == "scratch":
        return None
    if train.init != "pretrain":  # a state-dict file, checked by validate
        return torch.load(train.init, map_location="cpu", weights_only=True)
    folder = out / "pretrain"
    final = folder / "model.pt"
    if not final.exists():
        model, _ = train_trial(
            train.pretrain_loss, config.data.seed, cases, config, folder, device,
            iterations=train.pretrain_iterations, lr=train.pretrain_lr, progress=progress,
        )  # fmt: skip
        torch.save(model.state_dict(), final)
    return torch.load(final, map_location="cpu", weights_only=True)


def _evaluate(model: torch.nn.Module, cases: list[PreparedCase], config: Config, folder: Path,
              device: torch.device, progress: bool) -> list[dict]:  # fmt: skip
    import nibabel as nib

    rows = []
    for case in tqdm(cases, desc="evaluate", unit="case", leave=False, disable=not progress):
        prob = sliding_window(
            model, case.image, config.train.patch_size, config.eval.overlap, device
        )
        # scored on the case's own grid against its own label, as the MSSEG-2 challenge did
        pred = to_native(prob * case.brain_mask, case) > config.eval.threshold
        metrics = evaluate_case(pred, case.native_label, case.native_spacing)
        rows.append({"case_id": case.case_id, **metrics})
        if config.eval.save_predictions:
            (folder / "predictions").mkdir(exist_ok=True)
            nib.save(
                nib.Nifti1Image(pred.astype(np.uint8), case.affine),
                folder / "predictions" / f"{case.case_id}.nii.gz",
            )
    return rows


def _check_out(out: Path, config: Config, resume: bool, force: bool) -> Config:
    stored = out / "config.toml"
    if force and out.exists():
        shutil.rmtree(out)
    elif stored.exists():
        previous = from_toml(stored)
        if resume:
            return validate(previous)  # a stored config.toml may have been edited by hand
        if dataclasses.asdict(previous) != dataclasses.asdict(config):
            raise ValueError(
                f"{out} holds a run with a different configuration; pass --resume to continue "
                "it with its own configuration, or --force to start over"
            )
    return config


def run(config: Config, out: str | Path, *, resume: bool = False, force: bool = False,
        progress: bool = True) -> Path:  # fmt: skip
    """Run every (loss, seed) trial of ``config`` into ``out``; returns the results CSV path.

    Raises:
        ValueError: unknown loss, bad device, a value out of range (:func:`validate`), or
            ``out`` holding another configuration.
        FileNotFoundError: the data folder is not an MSSEG-2 folder, or ``train.init`` names
            no file.
    """
    out = Path(out)
    losses = resolve_losses(config.losses)
    device = resolve_device(config.device)
    config = _check_out(out, validate(config), resume, force)  # validated before --force deletes
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.toml").write_text(to_toml(config, _environment(device)))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    train_set, test_set = _split(config, out)
    pairs = [(c.image, c.label) for c in _prepare(train_set, config, "prepare train", progress)]
    test_cases = _prepare(test_set, config, "prepare test", progress)
    init_state = _pretrain(config, pairs, out, device, progress)
    failures = []
    grid = [(seed, loss) for seed in config.seeds for loss in losses]
    for seed, loss in tqdm(grid, desc="trials", unit="trial", disable=not progress):
        folder = out / "trials" / f"{loss}-seed{seed}"
        if (folder / "metrics.csv").exists():
            continue
        try:
            model, seconds = train_trial(loss, seed, pairs, config, folder, device, init_state,
                                         progress=progress)  # fmt: skip
        except NonFiniteLossError as exc:
            failures.append({"loss": loss, "seed": seed, "error": str(exc)})
            (folder / "failed.json").write_text(json.dumps(failures[-1]))
            continue
        rows = _evaluate(model, test_cases, config, folder, device, progress)
        frame = pd.DataFrame(rows)
        frame.insert(0, "seed", seed)
        frame.insert(0, "loss", loss)
        frame["train_seconds"] = round(seconds, 2)
        frame.to_csv(folder / "metrics.partial.csv", index=False)
        (folder / "metrics.partial.csv").replace(folder / "metrics.csv")
    if failures:
        pd.DataFrame(failures).to_csv(out / "failures.csv", index=False)
    return _collect(out, losses, config.seeds)


def _collect(out: Path, losses: Sequence[str], seeds: Sequence[int]) -> Path:
    frames = [
        pd.read_csv(out / "trials" / f"{loss}-seed{seed}" / "metrics.csv", dtype={"case_id": str})
        for seed in seeds for loss in losses
        if (out / "trials" / f"{loss}-seed{seed}" / "metrics.csv").exists()
    ]  # fmt: skip
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table.to_csv(out / "results.csv", index=False)
    table.to_parquet(out / "results.parquet", index=False)
    return out / "results.csv"
