"""Shared test setup: hypothesis profiles (``ci`` loads itself when ``CI`` is set), and the
``slow`` marker: a plain ``pytest`` leaves slow tests out; ``pytest -m slow`` runs them."""

import os

import pytest
from hypothesis import HealthCheck, settings

# No deadlines: a test's time is not its result (a loaded machine must not fail a property).
settings.register_profile("dev", max_examples=100, deadline=None)
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # -m chose what to run
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture(scope="session")
def torch() -> object:
    """PyTorch, the reference engine (``pip install '.[reference]'``); without it the
    differential tests skip, with one line in the summary (they all skip here)."""
    return pytest.importorskip("torch", reason="PyTorch not installed: pip install '.[reference]'")
