"""The project as released: one version everywhere, the license pyproject declares, a changelog
entry and a citation for it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lossbench
from lossbench.cli import main

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_one_version_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    version = _version()
    assert lossbench.__version__ == version
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lossbench {version}"
    assert f"\nversion: {version}\n" in (ROOT / "CITATION.cff").read_text()
    assert f"\n## [{version}] - " in (ROOT / "CHANGELOG.md").read_text()


def test_the_license_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    assert "license: Apache-2.0" in (ROOT / "CITATION.cff").read_text()
    for name in ("NOTICE", "CONTRIBUTING.md", ".pre-commit-config.yaml"):
        assert (ROOT / name).is_file(), name
