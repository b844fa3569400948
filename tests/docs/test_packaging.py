"""What `pip install .` (the platform image) ships: every file a package reads at run time, not only
its Python modules."""

from __future__ import annotations

import fnmatch
import tomllib

import pytest

from shared.settings import REPO_ROOT

PACKAGES = ("shared", "functions", "monitor")


def _data_files(package: str) -> list[str]:
    root = REPO_ROOT / package
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_every_data_file_of_a_package_is_declared_package_data(package: str) -> None:
    """A file the code opens (admin templates, htmx, the Compose schema) that package-data misses is
    absent from the installed package: cfa serve crashed at start in the built image for exactly this."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"].get("package-data", {}).get(package, [])
    missing = [f for f in _data_files(package) if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert missing == [], f"add to [tool.setuptools.package-data] {package}: {missing}"
