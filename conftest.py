"""README.md's python blocks run as tests (pytest-markdown-docs), each in an empty folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _readme_blocks_start_in_an_empty_folder(request: pytest.FixtureRequest) -> None:
    # A README block is run as a reader would paste it into a fresh folder: files it writes
    # (neuron.png, ...) land in a temporary folder, not in the checkout.
    if request.node.get_closest_marker("markdown-docs") is not None:
        request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
