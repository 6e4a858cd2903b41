"""What every test run shares, tests/ and the Markdown pages' python blocks alike.

- The markers of runs a plain ``pytest`` leaves out (``OPT_IN``): each takes long or needs a tool
  beyond the ``test`` extra. ``pytest -m NAME`` runs them (an ``-m`` expression that names a
  marker turns it on); ``.ci/run`` runs them all.
- The markers of tests that need a tool beyond the ``test`` extra (``NEEDS``): without it they
  are skipped with one line saying what to install, except under CI (``CI`` set), where a
  missing tool is a failure, not a skip; so is a ``pytest.importorskip`` that skips. A test
  that asks for the ``torch`` fixture is marked ``torch``.
- README.md's python blocks (pytest-markdown-docs) run each in an empty folder; a block that
  asks for the ``training`` fixture (```` ```python fixture:training ````) is marked ``training``.
- ``pytest path/to/checkout`` collects what a plain ``pytest`` in the checkout does (the
  ``testpaths``), not this file, the examples or the benchmarks as modules.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

OPT_IN = {
    "slow": "thousands of hypothesis examples",
    "training": "trains a model for seconds",
    "browser": "drives Chromium",
    "notebook": "runs the notebook in a Jupyter kernel",
    "docs": "builds the documentation site",
}
"""Left out of a plain ``pytest``; ``-m`` with the name turns each on."""


def _modules(*names: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        absent = [name for name in names if importlib.util.find_spec(name) is None]
        return ", ".join(absent) or None

    return missing


def _layout_program() -> str | None:
    from microgrsucc.layout import find_layout_program

    return _modules("graphviz")() or (None if find_layout_program() else "a Graphviz layout program")


def _chromium() -> str | None:
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        return "chromium (apt install chromium)"
    return _modules("playwright")()


NEEDS: dict[str, tuple[Callable[[], str | None], str]] = {
    "dot": (_layout_program, "pip install '.[render]' (or apt install graphviz)"),
    "browser": (_chromium, "pip install '.[dev]'"),
    "notebook": (_modules("nbclient", "nbformat", "ipykernel"), "pip install '.[dev]'"),
    "plots": (_modules("matplotlib"), "pip install '.[examples]'"),
    "docs": (_modules("mkdocs", "mkdocstrings"), "pip install '.[docs]'"),
    "torch": (_modules("torch"), "pip install '.[reference]'"),  # PyTorch float64, the oracle
    "jax": (_modules("jax"), "pip install '.[jax]'"),
    "numba": (_modules("numba"), "pip install '.[numba]'"),
}
"""Marker -> (what of it is missing, or None; how to install it)."""


@functools.cache
def _missing(marker: str) -> str | None:
    return NEEDS[marker][0]()


def _opted_in(config: pytest.Config) -> set[str]:
    words = set(re.findall(r"\w+", config.getoption("markexpr") or ""))
    return words & OPT_IN.keys()


_LEFT_OUT = pytest.StashKey[Counter[str]]()  # how many tests of each OPT_IN marker were left out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "training" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.training)
        if "torch" in getattr(item, "fixturenames", ()):  # tests/conftest.py's fixture: PyTorch
            item.add_marker(pytest.mark.torch)
    on = _opted_in(config)
    left: Counter[str] = Counter()
    kept, deselected = [], []
    for item in items:
        off = [name for name in OPT_IN if name not in on and item.get_closest_marker(name)]
        left.update(off)
        (deselected if off else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept
    config.stash[_LEFT_OUT] = left


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_OUT, Counter())
    if left:
        counts = ", ".join(f"{n} {name}" for name, n in left.items())
        names = " or ".join(left)
        terminalreporter.write_line(f"left out: {counts} (run them with: pytest -m '{names}'; CI does)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (_, install) in NEEDS.items():
        missing = _missing(marker) if item.get_closest_marker(marker) else None
        if missing is None:
            continue
        message = f"{marker} tests need {missing}: {install}"
        if os.environ.get("CI"):
            pytest.fail(f"under CI these run, not skip: {message}", pytrace=False)
        pytest.skip(message)


def _fail_a_missing_import_under_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    # pytest.importorskip's skip ("could not import 'graphviz'") is a missing tool too.
    if os.environ.get("CI") and report.skipped and "could not import" in str(report.longrepr):
        where = report.longrepr
        reason = where[2] if isinstance(where, tuple) else where  # (path, line, "Skipped: ...")
        report.outcome = "failed"
        report.longrepr = f"under CI these run, not skip: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_a_missing_import_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_a_missing_import_under_ci(report)
    return report


# The optional backends' modules import their library: without its extra, their doctests are
# not collected (their tests are marked with the library's NEEDS marker: a skip, or under CI a
# failure).
BACKEND_MODULES = {"jax": ("jax_code.py", "jax_runtime.py"), "numba": ("numba_code.py", "numba_cache.py")}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Only what testpaths names, when the checkout itself is what pytest was given.
    if collection_path.parent == ROOT and collection_path.name not in config.getini("testpaths"):
        return True
    if collection_path.parent.name == "compiler" and any(
        collection_path.name in names and importlib.util.find_spec(library) is None
        for library, names in BACKEND_MODULES.items()
    ):
        return True
    return None


@pytest.fixture
def training() -> None:
    """Asked for by a Markdown block that trains a model: marks it ``training``."""


@pytest.fixture(autouse=True)
def _readme_blocks_start_in_an_empty_folder(request: pytest.FixtureRequest) -> None:
    # A README block is run as a reader would paste it into a fresh folder: files it writes
    # (neuron.png, ...) land in a temporary folder, not in the checkout.
    if request.node.get_closest_marker("markdown-docs") is not None:
        request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
