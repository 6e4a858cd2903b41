"""The documentation site: ``mkdocs build --strict`` passes on ``mkdocs.yml`` and ``docs/``.

The pages' python blocks run as tests of their own (``--markdown-docs``); this file checks that
the site builds with no warning (a broken link, a page left out of the nav, an API entry
mkdocstrings cannot find) and that the API page renders the docstrings. Marker ``docs``: a plain
``pytest`` leaves it out; ``pytest -m docs`` runs it (conftest.py), as .ci/run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.docs


def test_the_site_builds_strictly_and_the_api_page_renders_the_docstrings(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    # mkdocstrings found the objects and rendered their docstrings, examples as code.
    names = ("value_and_grad", "hessian", "custom_op", "render", "nn.MLP", "optim.Adam", "testing.gradcheck")
    for name in names:
        assert f'id="microgrsucc.{name}"' in api, name
    prompts = api.count("&gt;&gt;&gt;")
    assert prompts > 0, "no docstring example on the API page"
    assert api.count('<span class="gp">&gt;&gt;&gt; </span>') == prompts, "a doctest rendered as text"
