"""Shared test setup: hypothesis profiles (``ci`` loads itself when ``CI`` is set) and
``package_with_sec``, a copy of the package with one op appended to its table. The markers
(``slow`` and the others a plain ``pytest`` leaves out) are the checkout's conftest.py's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# No deadlines: a test's time is not its result (a loaded machine must not fail a property).
# dev, a plain pytest's: a quick sample of each property (the suite fits in well under a minute
# of CPU); ci, CI's plain pytest, 200 each, the same on every run; thorough, the tests marked slow.
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# For the tests marked slow, whatever profile is loaded: thousands of examples each
# (the same ones on every CI run, as the ci profile's).
settings.register_profile(
    "thorough",
    max_examples=5000,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# Appended to a copy of a family module of the table: the contract for adding an op is this one
# entry and nothing else. sec is no entry of the table; its derivative uses tan, one that is.
SEC = """
sec = Primitive("sec", 1, lambda x: 1.0 / math.cos(x), lambda F, x, out: out * F.tan(x))
register(sec)
"""


@dataclass
class PackageCopy:
    """A copy of microgrsucc under ``root``, which Python code run by ``python`` imports."""

    root: Path

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python *args`` in ``root`` with the copy first on the path."""
        env = {**os.environ, "PYTHONPATH": str(self.root)}
        return subprocess.run([sys.executable, *args], env=env, cwd=self.root, capture_output=True, text=True)


@pytest.fixture
def package_with_sec(tmp_path: Path) -> PackageCopy:
    """The package copied into a temporary folder, with ``sec`` appended to its op table."""
    import microgrsucc

    copy = tmp_path / "microgrsucc"
    shutil.copytree(Path(microgrsucc.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "ops" / "elementary.py").open("a") as table:
        table.write(SEC)
    return PackageCopy(tmp_path)


@pytest.fixture(scope="session")
def torch() -> object:
    """PyTorch, the differential tests' reference engine (``pip install '.[reference]'``):
    a test that asks for it is marked ``torch``, so without it the test skips, with one line in
    the summary for all of them (under CI it fails, see conftest.py)."""
    return pytest.importorskip("torch", reason="could not import 'torch': pip install '.[reference]'")
