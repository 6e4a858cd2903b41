"""The table is the registry: everything that lists ops derives the list from ``ops.PRIMITIVES``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

import microgrsucc as mg
from microgrsucc import ops
from microgrsucc.forward import Dual
from microgrsucc.functions import FUNCTIONS

if TYPE_CHECKING:  # the fixture's type, for readers and editors
    from conftest import PackageCopy

PACKAGE = Path(mg.__file__).parent


def _declared() -> tuple[set[str], set[str]]:
    """The methods and the functions that declarations.pyi shows mypy."""
    tree = ast.parse((PACKAGE / "declarations.pyi").read_text())
    methods = {
        f.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "OpMethods"
        for f in node.body
        if isinstance(f, ast.FunctionDef)
    }
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return methods, functions


def _from_the_table() -> tuple[set[str], set[str]]:
    methods, functions = {"__pow__", "__rpow__"}, set()
    for op in ops.PRIMITIVES.values():
        if op.name.isidentifier():
            methods.add(op.name)
            functions.add(op.name)
        if op.operator:
            methods.add(f"__{op.operator}__")
            if op.arity == 2:
                methods.add(f"__r{op.operator}__")
    return methods, functions


def test_the_type_declarations_list_exactly_the_table() -> None:
    assert _declared() == _from_the_table()


def test_methods_functions_and_forward_mode_come_from_the_table() -> None:
    methods, functions = _from_the_table()
    for name in methods:
        assert callable(getattr(mg.Value, name)) and name in vars(Dual), name
    assert set(FUNCTIONS) == functions
    assert all(getattr(mg, name) is FUNCTIONS[name] for name in functions)
    assert set(mg.__all__) >= functions


# Run against that copy: tan must work everywhere an op is used, with nothing else written.
CHECKS = """
import math
from hypothesis import assume, given, settings
import microgrsucc as mg
from microgrsucc import Value, grad, jvp
from microgrsucc.testing import differences_agree, gradcheck, gradgradcheck
from microgrsucc.testing.strategies import graphs

sec2 = lambda x: 1.0 / math.cos(x) ** 2
y = Value(0.5).tan()
assert y.data == math.tan(0.5) and mg.tan(0.5).data == math.tan(0.5)
assert math.isclose(grad(mg.tan)(0.5), sec2(0.5), rel_tol=1e-12)
assert math.isclose(grad(grad(lambda x: x.tan()))(0.5), 2 * math.tan(0.5) * sec2(0.5), rel_tol=1e-12)
assert math.isclose(jvp(mg.tan, (0.5,), (2.0,))[1], 2 * sec2(0.5), rel_tol=1e-12)
assert gradcheck(mg.tan, 0.3) and gradgradcheck(mg.tan, 0.3)
assert "tan" in mg.draw(mg.tan(Value(0.5, label="x")) * 2).source

seen = set()
tan = mg.ops.PRIMITIVES["tan"]

@settings(max_examples=300, database=None, deadline=None, derandomize=True)
@given(graphs(max_ops=3))
def drawn(f):
    seen.update(op.primitive.name for op, _ in f.steps)

@settings(max_examples=100, database=None, deadline=None, derandomize=True)
@given(graphs(primitives=[tan, mg.ops.mul, mg.ops.add], max_ops=4))
def check(f):
    assume(differences_agree(lambda *xs: f(*xs).data, f.inputs, -1))
    assert gradcheck(f, *f.inputs)

drawn()
check()
assert "tan" in seen, seen
print("tan works")
"""


def test_one_entry_appended_to_the_table_is_an_op_everywhere(package_with_tan: PackageCopy) -> None:
    ran = package_with_tan.python("-c", CHECKS)
    assert ran.returncode == 0, ran.stderr
    assert "tan works" in ran.stdout
    cli = "import sys; from microgrsucc.cli import main; sys.exit(main(sys.argv[1:]))"
    graph = package_with_tan.python("-c", cli, "graph", "tan(x)*2", "--set", "x=0.5")
    assert graph.returncode == 0, graph.stderr
    assert "tan(x)*2 = 1.09260" in graph.stdout and "d/dx = 2.59689" in graph.stdout, graph.stdout
    help_text = package_with_tan.python("-c", cli, "graph", "--help")
    assert " tan" in help_text.stdout.replace("\n", " ")
