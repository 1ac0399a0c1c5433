"""The pure layers are typed: mypy finds nothing in handlers/ and knowledge/ (the project's design asks it)."""
from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_handlers_and_knowledge_type_check_clean(tmp_path: Path) -> None:
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path),
                                str(ROOT / "handlers"), str(ROOT / "knowledge")])
    assert status == 0, out + err
