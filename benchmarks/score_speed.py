"""Wall time of ``lossbench score`` on many MSSEG-2-sized cases, by number of worker processes.

Usage: ``python benchmarks/score_speed.py [--cases 100] [--workers 1 2]``

Writes ``--cases`` reference/prediction pairs of 160x192x160 voxels at 0.5 x 0.75 x 0.75 mm
(the metric benchmark's lesion layout, ``tests/metrics/layouts.py``, placed anywhere in the
volume) as NIfTI files into a temporary folder, then times :func:`lossbench.score.score` over
all of them once per worker count, reading, checking and scoring included, and prints the wall
seconds and the seconds per case.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from lossbench.score import score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/ helpers
from tests.metrics.layouts import SPACING, lesion_layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    pred, ref = lesion_layout(1.0)
    affine = np.diag([*SPACING, 1.0])
    with tempfile.TemporaryDirectory(prefix="lossbench-score-") as folder:
        root = Path(folder)
        for sub in ("ref", "pred"):
            (root / sub).mkdir()
        for i in range(args.cases):
            shift = (i % 7, 0, 0)  # cases differ a little; every one has lesions
            for sub, mask in (("ref", ref), ("pred", pred)):
                volume = np.roll(mask, shift, axis=(0, 1, 2)).astype(np.uint8)
                nib.save(nib.Nifti1Image(volume, affine), root / sub / f"case{i:03d}.nii.gz")
        tables = []
        for workers in args.workers:
            start = time.perf_counter()
            tables.append(
                score(root / "ref", {"m": root / "pred"}, workers=workers, progress=False)
            )
            seconds = time.perf_counter() - start
            print(
                f"{args.cases} cases, --workers {workers}: {seconds:.1f} s "
                f"({seconds / args.cases * 1000:.0f} ms per case)"
            )
        for table in tables[1:]:
            pd.testing.assert_frame_equal(tables[0], table)  # workers never change a number


if __name__ == "__main__":
    main()
