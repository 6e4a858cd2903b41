"""The ``microgrsucc`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import microgrsucc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microgrsucc", description=microgrsucc.__doc__)
    parser.add_argument("--version", action="version", version=f"microgrsucc {microgrsucc.__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
