"""``make dist``: the wheel ships every module, the TS runtime and ``py.typed``; it installs."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from tests.frontend.conftest import ROOT


def _sources(package: str, pattern: str) -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / package).rglob(pattern)
        if "__pycache__" not in p.parts
    }


def test_make_dist_runs_python_m_build():
    done = subprocess.run(
        ["make", "-n", "dist", "DIST_DIR=/tmp/x"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert ".venv/bin/python -m build --outdir /tmp/x ." in done.stdout


@pytest.mark.slow
def test_wheel_and_sdist_ship_the_runtime_and_install(tmp_path: Path):
    # what `make dist` runs: the sdist, then the wheel built from it
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("rxcdc-*.whl")
    (sdist,) = out.glob("rxcdc-*.tar.gz")
    names = set(zipfile.ZipFile(wheel).namelist())
    client = _sources("rxcdc", "client/*.ts")
    assert len(client) > 5
    assert client <= names
    assert {"rxcdc/py.typed", "replication/py.typed"} <= names
    assert _sources("rxcdc", "*.py") | _sources("replication", "*.py") <= names
    with tarfile.open(sdist) as tar:
        root = tar.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(root + "/") for n in tar.getnames()}
    assert client | {"rxcdc/py.typed", "pyproject.toml", "README.md"} <= in_sdist

    # a throwaway venv (no dependencies needed to find the runtime): not the repo's rxcdc
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = (
        "import importlib.resources, json, rxcdc; "
        "print(rxcdc.__file__); "
        "client = importlib.resources.files('rxcdc') / 'client'; "
        "print(json.dumps(sorted(e.name for e in client.iterdir() if e.name.endswith('.ts'))))"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    location, listing = done.stdout.splitlines()
    assert Path(location).is_relative_to(env)
    assert sorted(Path(name).name for name in client) == json.loads(listing)
