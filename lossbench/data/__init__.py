"""Data: the synthetic longitudinal phantoms, the MSSEG-2 loader, preprocessing and patches."""

from __future__ import annotations

from lossbench.data.msseg2 import (
    FILES,
    Case,
    Dataset,
    check_dataset,
    complete_cases,
    load_case,
    load_dataset,
)
from lossbench.data.synthetic import (
    BlobSettings,
    PhantomSettings,
    SyntheticCase,
    generate_case,
    synthesize,
    write_case,
)

__all__ = [
    "FILES",
    "BlobSettings",
    "Case",
    "Dataset",
    "PhantomSettings",
    "SyntheticCase",
    "check_dataset",
    "complete_cases",
    "generate_case",
    "load_case",
    "load_dataset",
    "synthesize",
    "write_case",
]
