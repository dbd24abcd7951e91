"""The location classes read from a tissue map agree with the classes the anatomy phantom drew
its new lesions with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lossbench.data.anatomy import TISSUE_CLASSES
from lossbench.data.locations import LOCATION_CLASSES, location_map
from lossbench.data.synthetic import generate_case
from lossbench.metrics import evaluate_case_lesions, label_lesions


def test_the_phantom_lesions_land_in_the_class_they_were_drawn_with() -> None:
    agree = total = 0
    for seed in range(12):
        case = generate_case(seed, new_lesions=True)
        assert case.tissue is not None
        regions = location_map(case.tissue, case.spacing)
        _, rows = evaluate_case_lesions(
            case.label, case.label, case.spacing, regions=regions, region_names=LOCATION_CLASSES
        )
        labels, _ = label_lesions(case.label, case.spacing)  # the rows' numbering
        location = {r["lesion"]: r["location"] for r in rows if r["side"] == "ref"}
        for centre, drawn in zip(case.new_lesion_centres, case.new_lesion_locations, strict=True):
            lesion = int(labels[tuple(np.round(centre).astype(int))])
            if lesion:  # not merged away, nor below the size limit
                total += 1
                agree += location[lesion] == drawn
    assert total >= 60
    assert agree / total >= 0.9  # 94% measured (66 of 70)


def test_precedence_and_margins() -> None:
    wm = TISSUE_CLASSES["wm"]
    tissue = np.full((3, 3, 20), wm)
    tissue[:, :, 0] = TISSUE_CLASSES["ventricles"]
    tissue[:, :, 19] = TISSUE_CLASSES["gm"]
    tissue[:, :, 5] = TISSUE_CLASSES["gm"]  # beside the ventricle: periventricular wins
    tissue[1, 1, 10] = TISSUE_CLASSES["infratentorial_wm"]
    tissue[0] = 0
    codes = location_map(tissue, (1.0, 1.0, 0.5))[1, 1]  # 0.5 mm along z
    names = [LOCATION_CLASSES[c - 1][:4] for c in codes]
    expected = ["peri"] * 7 + ["juxt"] * 3 + ["infr"] + ["deep"] * 4 + ["juxt"] * 5
    assert names == expected  # 3 mm = 6 slices of 0.5 mm; 2 mm = 4
    assert location_map(tissue, (1, 1, 1))[0].max() == 0  # outside the brain


def test_a_map_of_unknown_codes_is_refused() -> None:
    with pytest.raises(ValueError, match=r"holding \[9\]"):
        location_map(np.full((2, 2, 2), 9), (1, 1, 1))
    with pytest.raises(ValueError, match="3D integer"):
        location_map(np.zeros((2, 2, 2)), (1, 1, 1))


def test_a_case_folder_reads_its_tissue_map_and_refuses_unknown_codes(tmp_path: Path) -> None:
    import nibabel as nib

    from lossbench.data.msseg2 import TISSUE_FILE, load_case
    from lossbench.data.synthetic import write_case

    case = generate_case(3, shape=(48, 56, 48))
    folder = write_case(case, tmp_path)
    loaded = load_case(folder)
    assert loaded.tissue is not None and case.tissue is not None
    assert np.array_equal(loaded.tissue, case.tissue)
    odd = case.tissue.copy()
    odd[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(odd.astype(np.int16), case.affine), folder / TISSUE_FILE)
    with pytest.raises(ValueError, match=rf"{TISSUE_FILE} must hold the tissue codes .* \[7\]"):
        load_case(folder)
