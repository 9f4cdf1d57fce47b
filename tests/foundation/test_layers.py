"""The layers import downward only (import-linter's contracts in pyproject.toml), every module
of the package sits in a layer, and the wheel's top level is the project's own packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_every_module_of_the_package_is_in_a_layer():
    layers = next(c for c in contracts() if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    package = ROOT / "bsg_analytics"
    modules = {
        f"bsg_analytics.{p.stem if p.is_file() else p.name}"
        for p in package.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert modules - named == set(), "modules in no layer: add them to [tool.importlinter]"


def _uv() -> list[str] | None:
    """uv as the quickstart installs it (into the system Python), or on PATH."""
    if shutil.which("uv"):
        return [str(shutil.which("uv"))]
    for python in ("python3", sys.executable):
        found = shutil.which(python) or python
        ok = subprocess.run([found, "-m", "uv", "--version"], capture_output=True, check=False)
        if ok.returncode == 0:
            return [found, "-m", "uv"]
    return None


@pytest.mark.slow
def test_the_wheel_holds_only_the_projects_namespaced_packages(tmp_path):
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed")
    build = subprocess.run(
        [*uv, "build", "--wheel", "-o", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    tops = {t for t in tops if not t.endswith(".dist-info")}
    assert tops == {"bsg_analytics", "bsg_client", "bsg_simulator"}
