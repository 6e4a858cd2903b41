"""The table is the registry: everything that lists ops derives the list from ``ops.PRIMITIVES``."""

from __future__ import annotations

import ast
import math
import operator
from pathlib import Path
from typing import TYPE_CHECKING

import microgrsucc as mg
from microgrsucc import ops
from microgrsucc.forward import Dual
from microgrsucc.functions import FUNCTIONS
from microgrsucc.ops.primitive import Table, swapped_inputs
from microgrsucc.recording import recorder

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
    (methods, functions), (table_methods, table_functions) = _declared(), _from_the_table()
    missing = sorted((table_methods - methods) | (table_functions - functions))
    extra = sorted((methods - table_methods) | (functions - table_functions))
    assert not missing and not extra, (
        f"declarations.pyi (written by hand, checked here) lacks {missing} and has {extra} not in the table"
    )


def test_methods_functions_and_forward_mode_come_from_the_table() -> None:
    methods, functions = _from_the_table()
    for name in methods:
        assert callable(getattr(mg.Value, name)) and name in vars(Dual), name
    assert set(FUNCTIONS) == functions
    assert all(getattr(mg, name) is FUNCTIONS[name] for name in functions)
    assert set(mg.__all__) >= functions


# Run against package_with_sec (tests/conftest.py): sec must work everywhere an op is used,
# with nothing else written.
CHECKS = """
import math
from hypothesis import assume, find, given, settings
import microgrsucc as mg
from microgrsucc import Value, grad, jvp
from microgrsucc.testing import differences_agree, gradcheck, gradgradcheck
from microgrsucc.testing.strategies import graphs

sec = lambda x: 1.0 / math.cos(x)
y = Value(0.5).sec()
assert y.data == sec(0.5) and mg.sec(0.5).data == sec(0.5)
assert math.isclose(grad(mg.sec)(0.5), sec(0.5) * math.tan(0.5), rel_tol=1e-12)
second = sec(0.5) * math.tan(0.5) ** 2 + sec(0.5) ** 3
assert math.isclose(grad(grad(lambda x: x.sec()))(0.5), second, rel_tol=1e-12)
assert math.isclose(jvp(mg.sec, (0.5,), (2.0,))[1], 2 * sec(0.5) * math.tan(0.5), rel_tol=1e-12)
assert gradcheck(mg.sec, 0.3) and gradgradcheck(mg.sec, 0.3)
assert "sec" in mg.draw(mg.sec(Value(0.5, label="x")) * 2).source

op = mg.ops.PRIMITIVES["sec"]
# graphs() draws sec among the table's ops (find stops at the first graph that has it).
found = find(
    graphs(max_ops=3),
    lambda f: any(step.primitive is op for step, _ in f.steps),
    settings=settings(max_examples=3000, database=None, deadline=None, derandomize=True),
)

@settings(max_examples=40, database=None, deadline=None, derandomize=True)
@given(graphs(primitives=[op, mg.ops.mul, mg.ops.add], max_ops=4))
def check(f):
    assume(differences_agree(lambda *xs: f(*xs).data, f.inputs, -1))
    assert gradcheck(f, *f.inputs)

check()
print("sec works")
"""


def test_one_entry_appended_to_the_table_is_an_op_everywhere(package_with_sec: PackageCopy) -> None:
    ran = package_with_sec.python("-c", CHECKS)
    assert ran.returncode == 0, ran.stderr
    assert "sec works" in ran.stdout
    cli = "import sys; from microgrsucc.cli import main; sys.exit(main(sys.argv[1:]))"
    graph = package_with_sec.python("-c", cli, "graph", "sec(x)*2", "--set", "x=0.5")
    assert graph.returncode == 0, graph.stderr
    printed = dict(line.split(" = ") for line in graph.stdout.splitlines()[:2])
    assert math.isclose(float(printed["sec(x)*2"]), 2 / math.cos(0.5), rel_tol=1e-15), graph.stdout
    assert math.isclose(float(printed["d/dx"]), 2 * math.tan(0.5) / math.cos(0.5), rel_tol=1e-12), (
        graph.stdout
    )
    help_text = package_with_sec.python("-c", cli, "graph", "--help")
    assert " sec" in help_text.stdout.replace("\n", " ")


# Every method of dict that changes it in place, applied to a copy of the table.
_DICT_CHANGES = {
    "setitem": lambda t, op: t.__setitem__("another", op),
    "setitem of an entry": lambda t, op: t.__setitem__("exp", op),
    "del": lambda t, op: t.__delitem__("exp"),
    "pop": lambda t, op: t.pop("exp"),
    "pop of a missing key with a default": lambda t, op: t.pop("missing", None),
    "popitem": lambda t, op: t.popitem(),
    "setdefault": lambda t, op: t.setdefault("another", op),
    "update": lambda t, op: t.update({"another": op}),
    "update by keyword": lambda t, op: t.update(another=op),
    "|=": lambda t, op: t.__ior__({"another": op}),
    "clear": lambda t, op: t.clear(),
}


def test_every_change_to_a_table_and_to_an_ops_functions_is_counted() -> None:
    """``Table.changes`` moves with each change (compile compares the table only then); a
    method that may change nothing counts too, which costs one comparison."""
    dict_methods = {name for name in vars(dict) if not name.startswith("__")} | {
        "__setitem__",
        "__delitem__",
        "__ior__",
    }
    mutating = dict_methods - {"copy", "fromkeys", "get", "items", "keys", "values"}
    assert mutating <= set(vars(Table)), "a dict method that changes the table is not counted"
    sin = ops.PRIMITIVES["sin"]
    for name, change in _DICT_CHANGES.items():
        table = Table(ops.PRIMITIVES)
        before = Table.changes
        change(table, sin)
        assert Table.changes > before, name
        assert ops.PRIMITIVES["exp"] is ops.exp  # the copy changed, not the table
    op = ops.Primitive("twice", 1, lambda x: 2.0 * x, 2.0)
    for field, value in (("forward", lambda x: x + x), ("derivative", (2.0,)), ("forward", op.forward)):
        before = Table.changes
        setattr(op, field, value)
        assert Table.changes == before + 1, field
    before = Table.changes
    op.symbol = "2x"  # not read by a trace's check
    assert Table.changes == before


def test_backward_follows_a_derivative_replaced_after_the_op_was_made() -> None:
    """backward() reads some derivatives without calling them (constant partials, a product's
    swapped inputs): what it reads must follow the derivative the op holds now."""
    op = ops.Primitive("product", 2, operator.mul, swapped_inputs)
    x, y = mg.Value(3.0), mg.Value(5.0)

    def gradients() -> tuple[float, float]:
        x.grad = y.grad = None
        recorder(op)(x, y).backward()
        return x.grad, y.grad

    assert gradients() == (5.0, 3.0)  # d(xy)/dx = y, d(xy)/dy = x
    op.derivative = lambda F, x, y, out: (2.0 * y, x)  # not a product's rule: read as given
    assert gradients() == (10.0, 3.0)
    op.derivative = (1.0, 1.0)  # constant partials, each 1 (a sum's)
    assert gradients() == (1.0, 1.0)
    op.derivative = (2.0, -1.0)
    assert gradients() == (2.0, -1.0)
    op.derivative = lambda F, x, y, out: (out, 1.0)
    assert gradients() == (15.0, 1.0)
