"""The documentation: README.md and the site built from ``mkdocs.yml`` and ``docs/``.

The pages' python blocks run as tests of their own (``--markdown-docs``); this file checks that
the site builds with no warning (a broken link, a page left out of the nav, an API entry
mkdocstrings cannot find) and that the API page renders the docstrings (marker ``docs``: a plain
``pytest`` leaves it out; ``pytest -m docs`` runs it, as .ci/run does), that the page of the
table of ops names every op of the table, and that the README stays a few screens long.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from microgrsucc import ops

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.docs
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


def test_the_ops_page_names_every_op_of_the_table() -> None:
    page = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    page = re.sub(r"```.*?```", "", page, flags=re.S)  # the code blocks' fences are not spans
    # A span may name several ops (`+ - * /`, `x ** n`): each word of it counts.
    named = {word for span in re.findall(r"`([^`]+)`", page) for word in re.split(r"[\s,()]+", span)}
    missing = [name for name in ops.PRIMITIVES if name not in named]
    assert not missing, f"docs/ops.md does not name these ops of the table: {missing}"


def test_the_readme_is_a_few_screens() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move the details into docs/"
