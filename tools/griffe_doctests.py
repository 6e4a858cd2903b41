"""A griffe extension for the API page: docstring examples written as bare doctests render as code.

The docstrings keep their examples as plain ``>>>`` lines, which ``--doctest-modules`` runs. In
Markdown such a line is a blockquote nested three deep (and ``[...][:3]`` a reference link), so
mkdocstrings would render it as text; griffe reads ``>>>`` as code only inside an ``Examples:``
section. This extension fences every other run of ``>>>`` lines (with the output lines after
them) as a ``pycon`` block when griffe loads the docstring. It changes only the built site.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of unindented ``>>>`` lines, up to the next blank line, in a pycon fence."""
    out: list[str] = []
    in_example = in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        if in_example and not line.strip():
            out.append("```")
            in_example = False
        elif not in_example and not in_fence and line.startswith(">>>"):
            out.append("```pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the bare doctests of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
