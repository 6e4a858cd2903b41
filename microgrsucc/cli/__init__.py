"""The ``microgrsucc`` command line: ``demo`` (the book chapter's example) and ``graph EXPR``.

Every mistake it can explain (a bad expression, a missing ``--set``, a domain error, a file it
cannot write, no layout program) prints one line on stderr and exits with status 2. A
derivative that is infinite or NaN (``sqrt(x)`` at 0) is printed, with a warning line on stderr,
and the status stays 0: it is the value the calculus (and PyTorch) gives there. ``demo --out
DIR`` and ``graph -o FILE`` both make the folder they write into when it does not exist.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import microgrsucc
from microgrsucc.cli import chapter
from microgrsucc.cli.expr import CONSTANTS, FUNCTIONS, parse
from microgrsucc.drawing import RANKDIRS, LayoutProgramError
from microgrsucc.formula import formula
from microgrsucc.layout import program_for
from microgrsucc.rendering import FORMATS, render
from microgrsucc.value import Value

# The errors a user can cause (the engine's domain errors are ValueError and ArithmeticError);
# anything else is a bug and keeps its traceback.
_USER_ERRORS = (ArithmeticError, ValueError, OSError, LayoutProgramError, ModuleNotFoundError)

_DEMO_NAME = "chapter-network"


class _UserError(Exception):
    """A mistake on the command line, reported as one line."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, expression: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expression = expression  # whether a stray "-..." argument is likely a negative EXPR
        self.arguments: list[str] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.arguments = list(sys.argv[1:] if args is None else args)  # for error()'s hint
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block, like every other error here.
        self.exit(2, f"{self.prog}: error: {message}{self._minus_hint(message)} (see {self.prog} --help)\n")

    def _minus_hint(self, message: str) -> str:
        """argparse takes an EXPR such as "-x*2" for an unknown option; say how to pass it."""
        if not self.expression or "EXPR" not in message:
            return ""
        for arg in self.arguments:
            if arg == "--":
                break
            if arg.startswith("-") and not arg.startswith("--") and arg not in self._option_string_actions:
                rest = [a for a in self.arguments if a is not arg]
                fixed = shlex.join([*self.prog.split(), *rest, "--", arg])
                return f"; {arg} is taken for an option: an EXPR starting with a minus goes after --: {fixed}"
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # said by the command's own parser, so the line starts "microgrsucc demo:"
            message = f"unrecognized arguments: {' '.join(extra)}{_set_hint(extra)}"
            getattr(args, "parser", parser).error(message)
    except SystemExit as done:  # --help, --version and usage errors: return, don't exit
        return done.code if isinstance(done.code, int) else 2
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = run(args)
        for warning in caught:  # draw()'s node limit: a note, not a traceback-style warning
            print(f"{args.prog}: note: {warning.message}", file=sys.stderr)
        return status
    except (_UserError, *_USER_ERRORS) as err:
        print(f"{args.prog}: error: {_message(err)}", file=sys.stderr)
        return 2


def _set_hint(extra: Sequence[str]) -> str:
    """Variables given as ``-x 1 -y 2`` or ``--set x=1 y=2``: the --set options that mean it."""
    settings, rest = [], list(extra)
    while rest:
        arg = rest.pop(0)
        name, equals, value = arg.lstrip("-").partition("=")
        if not name.isidentifier():
            return ""
        if not equals:  # -x 1: the value is the next argument
            if not arg.startswith("-") or not rest:
                return ""
            value = rest.pop(0)
        try:
            float(value)
        except ValueError:
            return ""
        settings.append(f"--set {name}={value}")
    return f"; give each variable its own --set: {' '.join(settings)}"


def _message(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        return f"cannot write {err.filename}: {err.strerror or err}"
    return " ".join(str(err).split()) or type(err).__name__


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="microgrsucc", description="A small scalar reverse-mode automatic differentiation engine."
    )
    parser.add_argument("--version", action="version", version=f"microgrsucc {microgrsucc.__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="the book chapter's network: engine gradients beside the chapter's formulas, and its picture",
        description="Build the chapter's two-layer sigmoid network (microgrsucc.cli.chapter.DEFAULTS), run "
        "backward(), print each weight's and bias's gradient beside the chapter's formula, and write "
        f"into DIR (made if it does not exist) the network ({_DEMO_NAME}.png, .svg), the page that "
        f"steps through backward() ({_DEMO_NAME}.html), and the paths of the chain rule for w1 and w2 "
        f"({_DEMO_NAME}-w1.png, {_DEMO_NAME}-w2.png).",
    )
    demo.add_argument(
        "--out", metavar="DIR", type=Path, default=Path("."), help="where to write (default: .)"
    )
    _add_rankdir(demo, default="TB")
    demo.set_defaults(run=_demo, prog="microgrsucc demo", parser=demo)

    graph = commands.add_parser(
        "graph",
        help="evaluate an expression, print its derivatives and draw its graph",
        description="Evaluate EXPR with Values, run backward() and print its value and its derivative "
        "with respect to each variable. EXPR may use numbers, the constants pi and e, variables, "
        f"+ - * / **, unary minus, parentheses and the functions {' '.join(FUNCTIONS)}, "
        "an op's constants given by name (clamp(x, min=0, max=1)). "
        'An EXPR that starts with a minus goes after --: microgrsucc graph --set x=1 -- "-x*2". '
        "A derivative that is infinite or NaN is printed with a warning on stderr (the status stays 0). "
        "The folder of -o FILE is made if it does not exist, as demo --out does.",
        expression=True,
    )
    graph.add_argument("expr", metavar="EXPR", help='for example "tanh(x*w + b)"')
    graph.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        dest="values",
        help="a variable's value; once per variable",
    )
    graph.add_argument(
        "-o",
        metavar="FILE",
        dest="output",
        type=Path,
        help="write the graph: .png .svg .pdf .html (a page that steps through backward()) .dot or .gv",
    )
    _add_rankdir(graph)
    graph.set_defaults(run=_graph, prog="microgrsucc graph", parser=graph)
    return parser


def _add_rankdir(parser: argparse.ArgumentParser, default: str = "LR") -> None:
    parser.add_argument(
        "--rankdir",
        type=str.upper,
        choices=RANKDIRS,
        default=default,
        help=f"the direction of the picture, in any case: LR left to right, TB top to bottom, RL, BT "
        f"(default: {default})",
    )


# --- demo --------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    values = chapter.DEFAULTS
    net, rows = chapter.compare(values)
    print("The book chapter's network, at microgrsucc.cli.chapter.DEFAULTS:")
    print("  " + "  ".join(f"{name}={v:g}" for name, v in values.items()))
    print(f"  cost C = 1/2 (y - a2)**2 = {net.C.data:.12f}")
    print()
    print(f"  {'':<11}{'engine':>17}{'chapter formula':>18}{'difference':>12}")
    for row in rows:
        numbers = f"{row.engine:>17.12f}{row.book:>18.12f}{row.engine - row.book:>12.1e}"
        print(f"  dC/d{row.name} {row.formula:<4}{numbers}")
    print()
    print("  The same, derived by the engine with symbolic local derivatives (microgrsucc.formula):")
    for row in rows:
        print(f"  {row.formula:<4}{formula(net.C, getattr(net, row.name))}")
    print()

    _make_folder(args.out)
    pictures: list[tuple[str, Value | None, str]] = [
        (f"{_DEMO_NAME}.png", None, "the network, each arrow with its local derivative"),
        (f"{_DEMO_NAME}.svg", None, ""),
        (f"{_DEMO_NAME}.html", None, "open it in a browser: backward() step by step"),
        (f"{_DEMO_NAME}-w1.png", net.w1, "the chain rule for w1, formula (B)"),
        (f"{_DEMO_NAME}-w2.png", net.w2, "the chain rule for w2, formula (A)"),
    ]
    try:
        for name, highlight, note in pictures:
            # The page trains the weights and biases; a0 and y are the data.
            page: dict[str, Any] = (
                {"parameters": [net.w1, net.b1, net.w2, net.b2]} if name.endswith(".html") else {}
            )
            path = render(net.C, args.out / name, rankdir=args.rankdir, highlight=highlight, **page)
            print(f"wrote {path}" + (f"  ({note})" if note else ""))
    except LayoutProgramError as err:
        # Still leave something to look at: the DOT text needs no layout program.
        path = render(net.C, args.out / f"{_DEMO_NAME}.dot", rankdir=args.rankdir)
        raise _UserError(f"{err} (wrote {path} instead)") from None
    return 0


def _make_folder(folder: Path) -> None:
    """Make ``folder`` and its parents, as ``mkdir -p``: demo --out and graph -o both do."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _UserError(f"cannot create the folder {folder}: {err.strerror}") from None


# --- graph -------------------------------------------------------------------------------------


def _graph(args: argparse.Namespace) -> int:
    if args.output is not None:
        fmt = FORMATS.get(args.output.suffix.lower())
        if fmt is None:
            raise _UserError(f"-o {args.output}: end the file name with one of {', '.join(FORMATS)}")
        if fmt != "dot":
            program_for(fmt, args.output)  # no program, or one that cannot write it: before any output
    expression = parse(args.expr)
    values = _values(args.values)
    missing = [name for name in expression.variables if name not in values]
    if missing:
        need = " ".join(f"--set {name}=VALUE" for name in missing)
        raise _UserError(
            f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no value: add {need}"
        )
    unused = [name for name in values if name not in expression.variables]
    if unused:
        name = unused[0]
        if name in CONSTANTS:
            raise _UserError(f"--set {name}: {name} is a constant in expressions ({CONSTANTS[name]!r})")
        raise _UserError(f"--set {name}: the expression has no variable {name}")

    leaves = {name: Value(values[name], label=name) for name in expression.variables}
    root = expression.evaluate(leaves)
    root.backward()
    if args.output is not None:
        _make_folder(args.output.parent)  # before printing: a folder it cannot make is an error alone
    width = max((len(name) for name in leaves), default=0)
    print(f"{' '.join(args.expr.split())} = {root.data!r}")
    for name, leaf in leaves.items():
        print(f"d/d{name:<{width}} = {float(leaf.grad)!r}")
    for name, leaf in leaves.items():
        slope = float(leaf.grad)
        if not math.isfinite(slope):
            why = "infinite" if math.isinf(slope) else "undefined (NaN)"
            point = ", ".join(f"{n}={values[n]!r}" for n in leaves)
            print(f"{args.prog}: warning: d/d{name} is {why} at {point}", file=sys.stderr)
    if args.output is not None:
        print(f"wrote {render(root, args.output, rankdir=args.rankdir)}")
    return 0


def _values(settings: Sequence[str]) -> dict[str, float]:
    """``--set NAME=VALUE`` options as a dict, each checked."""
    values: dict[str, float] = {}
    for setting in settings:
        name, equals, text = setting.partition("=")
        name = name.strip()
        if not equals:
            raise _UserError(f"--set {setting}: write NAME=VALUE, for example --set x=0.5")
        if not name.isidentifier() or name.startswith("_"):
            raise _UserError(f"--set {setting}: {name or '(nothing)'} is not a variable name")
        if name in values:
            raise _UserError(f"--set {setting}: {name} is set twice")
        try:
            value = float(text)
        except ValueError:
            raise _UserError(f"--set {setting}: {text or '(nothing)'} is not a number") from None
        if not math.isfinite(value):
            raise _UserError(f"--set {setting}: the value must be a finite number")
        values[name] = value
    return values
