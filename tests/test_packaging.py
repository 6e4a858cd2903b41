"""The sdist and the wheel: what they carry (license, tests, examples, pictures) and their metadata.

Both are built here, offline (``python -m build --no-isolation`` with the setuptools of the test
extra), from a copy of the source tree. CI also runs the whole suite inside the unpacked sdist.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import microgrsucc

ROOT = Path(__file__).resolve().parent.parent
# The folders the test suite, the README and the docs site need beside the package.
SHIPPED = ("tests", "examples", "docs", "tools", "benchmarks")
NOT_SOURCE = (
    ".git",
    ".venv*",
    "venv",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".*_cache",
    ".hypothesis",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[tarfile.TarFile, zipfile.ZipFile]:
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("needs the source tree")  # e.g. tests copied next to an installed wheel
    source = tmp_path_factory.mktemp("source") / "microgrsucc"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "deprecat" not in (done.stdout + done.stderr).lower()  # e.g. the old license table
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return tarfile.open(sdist), zipfile.ZipFile(wheel)


def sdist_files(sdist: tarfile.TarFile) -> set[str]:
    return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}


def tree_files(folder: str) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(".pyc")
    }


def test_the_license_is_mit_for_the_contributors() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 microgrsucc contributors\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_the_sdist_carries_what_the_tests_and_the_readme_need(
    built: tuple[tarfile.TarFile, zipfile.ZipFile],
) -> None:
    files = sdist_files(built[0])
    for name in ("LICENSE", "README.md", "pyproject.toml", "conftest.py", "tests/conftest.py", "mkdocs.yml"):
        assert name in files
    for folder in SHIPPED:
        missing = tree_files(folder) - files
        assert tree_files(folder) and not missing, (
            f"{folder}/ files missing from the sdist: {sorted(missing)}"
        )
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]


def test_every_relative_link_of_the_readme_and_the_docs_is_in_the_sdist(
    built: tuple[tarfile.TarFile, zipfile.ZipFile],
) -> None:
    relative = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))}
        folder = page.parent.relative_to(ROOT)
        relative |= {(folder / t).as_posix().removeprefix("./") for t in targets if t and "://" not in t}
    assert {"docs/chapter-network.png", "docs/tutorial.md", "LICENSE"} <= relative  # the pattern finds links
    assert relative <= sdist_files(built[0])


def test_the_wheel_carries_the_package_and_the_license_and_no_tests(
    built: tuple[tarfile.TarFile, zipfile.ZipFile],
) -> None:
    names = set(built[1].namelist())
    dist_info = f"microgrsucc-{microgrsucc.__version__}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert built[1].read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    for name in ("microgrsucc/py.typed", "microgrsucc/engine.py", "microgrsucc/testing/strategies.py"):
        assert name in names
    assert not [name for name in names if name.startswith(("tests/", "examples/", "docs/", "benchmarks/"))]


def test_the_metadata_declares_license_pythons_and_keywords(
    built: tuple[tarfile.TarFile, zipfile.ZipFile],
) -> None:
    dist_info = f"microgrsucc-{microgrsucc.__version__}.dist-info"
    meta = email.message_from_bytes(built[1].read(f"{dist_info}/METADATA"))
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.10"
    classifiers = meta.get_all("Classifier") or []
    versions = [
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions == ["3.10", "3.11", "3.12", "3.13"]
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression says it
    assert "automatic differentiation" in (meta["Keywords"] or "")
    assert meta["Description-Content-Type"] == "text/markdown"
