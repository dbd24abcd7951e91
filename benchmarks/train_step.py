"""Where a training step and a test case's inference spend their time, on this machine.

Usage: ``python benchmarks/train_step.py [--preset quick] [--repeats 20] [--threads N]``

Prints medians (ms) measured side by side in one process, for the preset's V-Net, batch and
patch, on the CPU (with torch's default thread count, or ``--threads``) or the CUDA device
``auto`` resolves to:

- ``sample_batch``: lesion-centred patches with augmentation (the batch thread's work);
- one optimiser step (forward, Dice loss, backward, Adam) in fp32, bf16 and fp16 autocast, and
  in fp32 with channels_last_3d tensors;
- the forward pass of one phantom test case (about 48x56x48 voxels): the whole volume as a batch
  of one, and two overlapping 48-voxel windows in one batch (the quick preset's inference).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from lossbench.config import preset, resolve_device
from lossbench.data import Case, generate_case
from lossbench.data.patches import sample_batch
from lossbench.data.preprocess import prepare_case
from lossbench.losses import create_loss
from lossbench.train import build_model


def _median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = preset(args.preset)
    device = resolve_device(config.device)
    train = config.train
    cases = []
    for seed in range(4):
        c = generate_case(seed, (48, 56, 48), new_lesions=True)
        case = prepare_case(
            Case(c.case_id, c.baseline, c.followup, c.label, c.brain_mask, c.spacing, c.affine)
        )
        cases.append((case.image, case.label))
    rng = np.random.default_rng(0)
    size = (train.patch_size,) * 3
    images, labels = sample_batch(cases, train.batch_size, size, rng, train.max_shift)
    rows = {
        "sample_batch": _median_ms(
            lambda: sample_batch(cases, train.batch_size, size, rng, train.max_shift),
            args.repeats,
            device,
        )
    }
    loss_fn = create_loss("dice")
    y = torch.from_numpy(labels).to(device)
    for name, dtype, layout in (
        ("step fp32", None, torch.contiguous_format),
        ("step bf16", torch.bfloat16, torch.contiguous_format),
        ("step fp16", torch.float16, torch.contiguous_format),
        ("step fp32 channels_last_3d", None, torch.channels_last_3d),
    ):
        model = build_model(config, 0).to(device).to(memory_format=layout)  # type: ignore[call-overload]
        optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
        x = torch.from_numpy(images).to(device).to(memory_format=layout)

        def step(model=model, optimizer=optimizer, x=x, dtype=dtype) -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(x)
            loss_fn(logits.float(), y).backward()
            optimizer.step()

        rows[name] = _median_ms(step, args.repeats, device)
    model = build_model(config, 0).to(device).eval()
    volume = torch.from_numpy(cases[0][0][None]).to(device)  # (1, 3, about 48, 56, 48)
    edge = min(48, volume.shape[3])
    halves = torch.cat([volume[:, :, :, :edge], volume[:, :, :, -edge:]])
    with torch.inference_mode():
        rows["inference, whole case, batch of 1"] = _median_ms(
            lambda: model(volume), args.repeats, device
        )
        rows["inference, two windows, batch of 2"] = _median_ms(
            lambda: model(halves), args.repeats, device
        )
    print(f"{args.preset} preset on {device} ({torch.get_num_threads()} CPU threads): median ms")
    for name, ms in rows.items():
        print(f"  {name:42s} {ms:8.1f}")


if __name__ == "__main__":
    main()
