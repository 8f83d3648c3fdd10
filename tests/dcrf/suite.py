"""DCRF's published test suite, downloaded from the package index and run against rxcdc.api.

The sdist is fetched with pip (cached in ``tests/dcrf/.sdist/``, git-ignored, checked against
its published SHA-256), its test modules are extracted with the one substitution the migration
guide gives (``djangochannelsrestframework`` → ``rxcdc.api``, import lines only, enforced
here), placed next to the harness (``harness/``: the settings and the ``tests`` support
modules the sdist does not ship) and run by pytest in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE, VERSION = "djangochannelsrestframework", "1.3.0"
SHA256 = "f797a2b7cdc916f38da32de2a61f708efd2b81ea98afcc3dcc1f7fb4e5269fc3"
HERE = Path(__file__).resolve().parent
CACHE = HERE / ".sdist"
HARNESS = HERE / "harness"
OLD, NEW = "djangochannelsrestframework", "rxcdc.api"  # docs/dcrf-migration.md, section 2
IMPORT = re.compile(r"^\s*(from\s+\S+\s+import\b|import\s)")


@dataclass
class Result:
    """A finished run: pytest's exit status, its summary line and counts, the whole output."""

    returncode: int
    summary: str
    counts: dict[str, int]
    output: str


def sdist() -> Path:
    """The sdist, downloaded once (pip, from the configured index) and verified."""
    path = CACHE / f"{PACKAGE}-{VERSION}.tar.gz"
    if not (path.exists() and _sha256(path) == SHA256):
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                *("--no-binary", ":all:", "--dest", str(CACHE), f"{PACKAGE}=={VERSION}"),
            ],
            check=True,
        )
    digest = _sha256(path)
    if digest != SHA256:
        path.unlink()
        raise AssertionError(f"{path.name}: SHA-256 {digest}, expected {SHA256}")
    return path


def prepare(dest: Path) -> list[str]:
    """Lay out the run in ``dest``: harness files, then DCRF's test modules with imports
    rewritten. Returns the rewritten lines; raises if a line other than an import changed."""
    shutil.copytree(HARNESS, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    rewritten: list[str] = []
    with tarfile.open(sdist()) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) != 3 or parts[1] != "tests" or not parts[2].startswith("test_"):
                continue
            source = tar.extractfile(member)
            assert source is not None
            lines = source.read().decode().splitlines(keepends=True)
            out = []
            for line in lines:
                new = line.replace(OLD, NEW)
                if new != line:
                    assert IMPORT.match(line), f"{parts[2]}: not an import: {line!r}"
                    rewritten.append(f"{parts[2]}: {new.strip()}")
                out.append(new)
            (dest / "tests" / parts[2]).write_text("".join(out))
    return rewritten


def run(dest: Path, *args: str, timeout: float = 900) -> Result:
    """Run the suite laid out in ``dest`` with the services of this test run."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-c", str(dest / "pytest.ini")),
            *("--rootdir", str(dest), "--ds", "dcrf_settings", "-p", "no:cacheprovider"),
            *("-q", "-rfE", *args),
        ],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    summary = next(
        (line.strip("= ") for line in reversed(output.splitlines()) if " in " in line), ""
    )
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    return Result(proc.returncode, summary, counts, output)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":  # python -m tests.dcrf.suite DEST [pytest args]: for a closer look
    target = Path(sys.argv[1])
    print("\n".join(prepare(target)))
    result = run(target, *sys.argv[2:])
    print(result.output)
    sys.exit(result.returncode)
