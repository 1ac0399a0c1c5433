"""The code is typed: mypy finds nothing in bot/, handlers/, knowledge/ and storage/ (the project's design asks it)."""
from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_type_checks_clean(tmp_path: Path) -> None:
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path),
                                *(str(ROOT / package) for package in ("bot", "handlers", "knowledge", "storage"))])
    assert status == 0, out + err
