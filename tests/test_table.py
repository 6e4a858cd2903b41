"""The table is the registry: everything that lists ops derives the list from ``ops.PRIMITIVES``."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import microgrsucc as mg
from microgrsucc import ops
from microgrsucc.forward import Dual
from microgrsucc.functions import FUNCTIONS

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


# Appended to a copy of a family module of the table: the contract for adding an op. sec is
# no entry of the table; its derivative uses tan, one that is.
SEC = """
sec = Primitive("sec", 1, lambda x: 1.0 / math.cos(x), lambda F, x, out: out * F.tan(x))
register(sec)
"""

# Run against that copy: sec must work everywhere an op is used, with nothing else written.
CHECKS = """
import math
from hypothesis import assume, given, settings
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

seen = set()
op = mg.ops.PRIMITIVES["sec"]

@settings(max_examples=300, database=None, deadline=None, derandomize=True)
@given(graphs(max_ops=3))
def drawn(f):
    seen.update(op.primitive.name for op, _ in f.steps)

@settings(max_examples=100, database=None, deadline=None, derandomize=True)
@given(graphs(primitives=[op, mg.ops.mul, mg.ops.add], max_ops=4))
def check(f):
    assume(differences_agree(lambda *xs: f(*xs).data, f.inputs, -1))
    assert gradcheck(f, *f.inputs)

drawn()
check()
assert "sec" in seen, seen
print("sec works")
"""


def test_one_entry_appended_to_the_table_is_an_op_everywhere(tmp_path: Path) -> None:
    copy = tmp_path / "microgrsucc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "ops" / "elementary.py").open("a") as table:
        table.write(SEC)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    ran = subprocess.run(
        [sys.executable, "-c", CHECKS], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "sec works" in ran.stdout
    cli = "import sys; from microgrsucc.cli import main; sys.exit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", cli, "graph", "sec(x)*2", "--set", "x=0.5"]
    graph = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert graph.returncode == 0, graph.stderr
    assert "sec(x)*2 = 2.27898" in graph.stdout and "d/dx = 1.24501" in graph.stdout, graph.stdout
    help_text = subprocess.run(
        [*command[:3], "graph", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert " sec" in help_text.stdout.replace("\n", " ")
