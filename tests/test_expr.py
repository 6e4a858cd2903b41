"""The expression parser: the grammar it accepts, everything it rejects, and safe evaluation."""

from __future__ import annotations

import ast
import builtins
import math
import sys
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import given

import microgrsucc as mg
from microgrsucc import Value, ops
from microgrsucc.cli.expr import FUNCTIONS, MAX_DEPTH, ExpressionError, parse
from microgrsucc.testing.strategies import reals


def value_and_grads(text: str, **values: float) -> tuple[float, dict[str, float]]:
    expression = parse(text)
    leaves = {name: Value(values[name], label=name) for name in expression.variables}
    root = expression.evaluate(leaves)
    root.backward()
    return root.data, {name: leaf.grad for name, leaf in leaves.items()}


def test_variables_in_the_order_written() -> None:
    assert parse("b * tanh(a) + b - c2").variables == ("b", "a", "c2")
    assert parse("(y\n + x)").variables == ("y", "x")
    assert parse("exp(1) + 2").variables == ()


def test_arithmetic_and_its_derivatives() -> None:
    value, grads = value_and_grads("x * y + x / y - y ** 2 + -x", x=3.0, y=2.0)
    assert value == 3 * 2 + 3 / 2 - 4 - 3
    assert grads == {"x": 2 + 1 / 2 - 1, "y": 3 - 3 / 4 - 4}


def test_pi_and_e_are_constants_not_variables() -> None:
    expression = parse("x * pi + e ** x")
    assert expression.variables == ("x",)
    value, grads = value_and_grads("x * pi + e ** x", x=2.0)
    assert value == pytest.approx(2 * math.pi + math.e**2)
    assert grads == {"x": pytest.approx(math.pi + math.e**2)}
    assert parse("pi").evaluate({}).data == math.pi
    assert parse("e").evaluate({}).data == math.e
    assert parse("pi").evaluate({"pi": 3.0}).data == math.pi  # a value given for it is not used
    with pytest.raises(ExpressionError, match="unknown function pi"):
        parse("pi(x)")


def test_precedence_and_associativity_are_pythons() -> None:
    assert value_and_grads("2 ** 3 ** 2")[0] == 512.0
    assert value_and_grads("-2 ** 2")[0] == -4.0
    assert value_and_grads("(1 - 2) - 3")[0] == value_and_grads("1 - 2 - 3")[0] == -4.0
    assert value_and_grads("+x", x=2.0) == (2.0, {"x": 1.0})


REFERENCE: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "exp": (math.exp, math.exp),
    "log": (math.log, lambda x: 1 / x),
    "sqrt": (math.sqrt, lambda x: 0.5 / math.sqrt(x)),
    "sin": (math.sin, math.cos),
    "cos": (math.cos, lambda x: -math.sin(x)),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + math.exp(-x)), lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2),
    "relu": (lambda x: max(x, 0.0), lambda x: float(x > 0)),
    "abs": (abs, lambda x: math.copysign(1.0, x)),
    "neg": (lambda x: -x, lambda x: -1.0),
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("x", [0.7, 2.5])
def test_each_function(name: str, x: float) -> None:
    f, df = REFERENCE[name]
    value, grads = value_and_grads(f"{name}(x)", x=x)
    assert value == pytest.approx(f(x), rel=1e-12)
    assert grads["x"] == pytest.approx(df(x), rel=1e-12)


def test_every_op_of_the_table_is_a_function() -> None:
    """Each op named like an identifier, with its arity, calls the op itself (the table's
    values are checked against references in tests/test_conformance.py)."""
    assert set(REFERENCE) <= set(FUNCTIONS) == {name for name in ops.PRIMITIVES if name.isidentifier()}
    for name in FUNCTIONS:
        op = ops.PRIMITIVES[name]
        args = [lo + (hi - lo) / 3 for lo, hi in (part[0] for part in op.domain)]
        names = ["x", "y", "z"][: op.arity]
        bound = ", min=-1e308" if name == "clamp" else ""  # clamp needs a bound, as torch's
        got = parse(f"{name}({', '.join(names)}{bound})").evaluate(dict(zip(names, args, strict=True)))
        assert got.op == name and got.data == op.forward(*args), name


def test_constants_are_number_or_string_literals_by_name() -> None:
    x = Value(-2.0)
    assert parse("leaky_relu(x, negative_slope=-0.5)").evaluate({"x": x}).data == 1.0
    assert parse("clamp(x, max=-3)").evaluate({"x": x}).data == -3.0
    assert parse('gelu(x, approximate="tanh")').evaluate({"x": x}).data == mg.gelu(x, approximate="tanh").data
    assert parse("atan2(y, x)").evaluate({"x": -1.0, "y": 0.0}).data == math.pi
    for text, message in [
        ("exp(x, 2)", r"exp\(\) takes exactly one argument"),
        ("maximum(x)", r"maximum\(\) takes exactly 2 arguments"),
        ("exp(x, beta=2)", r"exp\(\) takes no constants"),
        ("softplus(x, gamma=1)", r"softplus\(\) takes only the constants beta, threshold"),
        ("softplus(x, beta=x)", "the constant beta must be a number or a string"),
        ("clamp(x)", "clamp: give at least one of min, max"),
        # torch's clamp(x, 0, 1): the message shows how to write it here
        (
            "clamp(x, 0, 1)",
            r"clamp\(\) takes exactly one argument; its constants go by name: "
            r"clamp\(x, min=\.\.\., max=\.\.\.\)",
        ),
        ("leaky_relu(x, 0.1)", r"its constants go by name: leaky_relu\(x, negative_slope=\.\.\.\)"),
    ]:
        with pytest.raises(ExpressionError, match=message):
            parse(text).evaluate({"x": 1.0})


@given(reals(-3, 3), reals(-3, 3))
def test_a_composite_against_its_closed_form(x: float, y: float) -> None:
    value, grads = value_and_grads("sin(x) * y + exp(-x * y)", x=x, y=y)
    assert value == pytest.approx(math.sin(x) * y + math.exp(-x * y), rel=1e-12, abs=1e-12)
    assert grads["x"] == pytest.approx(math.cos(x) * y - y * math.exp(-x * y), rel=1e-9, abs=1e-9)
    assert grads["y"] == pytest.approx(math.sin(x) - x * math.exp(-x * y), rel=1e-9, abs=1e-9)


def test_a_literal_exponent_is_part_of_the_op_and_a_variable_one_gets_a_gradient() -> None:
    x = Value(3.0, label="x")
    square = parse("x ** 2").evaluate({"x": x})
    assert square.op == "**2" and square.inputs == (x,)
    assert parse("x ** -1").evaluate({"x": x}).op == "**-1"
    value, grads = value_and_grads("x ** y", x=2.0, y=3.0)
    assert value == 8.0
    assert grads == {"x": 12.0, "y": pytest.approx(8.0 * math.log(2.0))}


def test_numbers_become_values_in_the_graph() -> None:
    root = parse("2 * 3").evaluate({})
    assert root.data == 6.0 and [v.data for v in root.inputs] == [2.0, 3.0]
    assert parse("-2").evaluate({}).is_leaf  # a negative literal is one number, not neg(2)


def test_evaluate_connects_to_given_values_and_labels_numbers() -> None:
    w = Value(0.5, label="w")
    root = parse("w * x").evaluate({"w": w, "x": 4})
    root.backward()
    assert w.grad == 4.0
    assert root.inputs[1].label == "x"


def test_evaluate_names_a_missing_variable() -> None:
    with pytest.raises(ExpressionError, match="the variable y has no value"):
        parse("x + y").evaluate({"x": 1.0})


REJECTED = [
    ("x.real", "attribute access is not allowed"),
    ("x.__class__", "attribute access is not allowed"),
    ("__import__('os')", "unknown function __import__"),
    ("eval('1')", "unknown function eval"),
    ("foo(x)", "unknown function foo: the functions are abs, acos, acosh, asin, asinh, atan, atan2"),
    ("(lambda: 1)()", "only calls of abs, acos"),
    ("x[0]", "a subscript is not allowed"),
    ("lambda: 1", "a lambda is not allowed"),
    ("[i for i in x]", "a comprehension is not allowed"),
    ("(i for i in x)", "a generator is not allowed"),
    ("1 if x else 2", "a conditional expression is not allowed"),
    ("x < 1", "a comparison is not allowed"),
    ("x and y", "and/or is not allowed"),
    ("'a'", "a string is not allowed"),
    ("b'a'", "a string is not allowed"),
    ("f'{x}'", "an f-string is not allowed"),
    ("[x]", "a list is not allowed"),
    ("x, y", "a tuple is not allowed"),
    ("{x: 1}", "a dict is not allowed"),
    ("(x := 2)", "an assignment is not allowed"),
    ("_x + 1", "names starting with an underscore are not allowed"),
    ("__builtins__", "names starting with an underscore are not allowed"),
    ("exp(x=1)", r"exp\(\) takes exactly one argument"),
    ("exp(1, 2)", r"exp\(\) takes exactly one argument"),
    ("exp(*x)", r"exp\(\) takes exactly one argument"),
    ("exp()", r"exp\(\) takes exactly one argument"),
    ("exp + 1", r"exp is a function: write exp\(...\)"),
    ("x // 2", "the operator // is not allowed"),
    ("x % 2", "the operator % is not allowed"),
    ("x ^ 2", r"the operator \^ \(for powers write \*\*\)"),
    ("~x", "the operator ~ is not allowed"),
    ("not x", "the operator not is not allowed"),
    ("1j", "1j is not allowed"),
    ("True", "True is not allowed"),
    ("None", "None is not allowed"),
    ("...", "Ellipsis is not allowed"),
    ("1e999", "the number 1e999 is too large for a float"),
    ("9" * 400, r"the number 999999999999\.\.\. \(400 characters\) is too large for a float"),
    ("9" * 5000, "a number in the expression is too large for a float"),  # past Python's digit limit
    ("(x", r"syntax error at column 1: '\(' was never closed"),
    ("x +", "syntax error"),
    ("x\n+ 1", "syntax error on line 2"),
    ("", "the expression is empty"),
    ("   ", "the expression is empty"),
    ("x\x00", "invalid expression|syntax error"),
    ("-" * 100_000 + "x", "nested too deeply"),
    ("1+" * 100_000 + "1", "nested too deeply"),
    ("(" * 1000 + "x" + ")" * 1000, "too many nested parentheses"),
]


@pytest.mark.parametrize(("text", "message"), REJECTED, ids=[t[:20] for t, _ in REJECTED])
def test_rejected(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        parse(text)


def test_the_depth_limit_is_ours_the_same_on_every_python() -> None:
    # Python's parser gives up between 1000 and 10,000 levels depending on its version (3.10
    # parses 100,000); the limit is checked by the parser's walk, before anything is evaluated.
    deepest = "1+" * (MAX_DEPTH - 1) + "1"  # MAX_DEPTH - 1 sums, their literals one level below
    assert parse(deepest).evaluate({}).data == MAX_DEPTH
    with pytest.raises(ExpressionError, match=f"nested too deeply \\(more than {MAX_DEPTH} levels\\)"):
        parse("1+" + deepest)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("1+" * 100_000 + "1")


def test_checking_literals_does_not_rescan_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # ast.get_source_segment reads the whole text: called per literal it made parse() quadratic
    # (minutes for 20,000 terms). It is for error messages only.
    calls = []
    real = ast.get_source_segment
    monkeypatch.setattr(ast, "get_source_segment", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert parse(" + ".join(["2.5"] * 900) + " * x").variables == ("x",)
    assert calls == []
    with pytest.raises(ExpressionError, match="the number 1e999 is too large"):
        parse("1 + 1e999")
    assert len(calls) == 1


def test_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


def test_nothing_is_passed_to_eval_or_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec called")

    # (ast.parse itself calls compile(), but only to build the tree: nothing runs.)
    for name in ("eval", "exec"):
        monkeypatch.setattr(builtins, name, forbidden)
    assert value_and_grads("exp(x) * 2", x=0.0) == (2.0, {"x": 2.0})
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('echo hacked')")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("10 ** 10 ** 10", OverflowError, r"10\.0 \*\* 10000000000\.0: the result is too large"),
        ("10 ** 400", OverflowError, "too large for a float"),
        ("1e308 * 10", OverflowError, r"1e\+308 \* 10\.0: the result is too large for a float"),
        ("1e308 + 1e308", OverflowError, r"1e\+308 \+ 1e\+308"),
        ("exp(1000)", OverflowError, r"exp\(1000\.0\)"),
        ("log(-1)", ValueError, r"log\(-1\.0\): the operand must be > 0"),
        ("sqrt(-4)", ValueError, r"sqrt\(-4\.0\)"),
        ("1 / (2 - 2)", ZeroDivisionError, r"1\.0 / 0\.0: division by zero"),
        ("0 ** -1", ZeroDivisionError, "0 cannot be raised to a negative power"),
        ("(-8) ** (1/3)", ValueError, "a negative base needs an integer exponent"),
    ],
)
def test_domain_errors_and_overflow_come_from_the_engine(
    text: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse(text).evaluate({})


@pytest.mark.parametrize("text", ["10 ** 10 ** 6", "7 ** 7 ** 7", "(10 ** 6) ** (10 ** 5)", "2 ** 4000000"])
def test_numbers_are_floats_before_any_arithmetic(text: str) -> None:
    # As Python ints these would take hundreds of kilobytes (10**10**6 has a million digits);
    # as floats they overflow at once. Memory is counted, not time, so the check is exact.
    tracemalloc.start()
    try:
        with pytest.raises(OverflowError, match="too large for a float"):
            parse(text).evaluate({})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000


def test_deep_expressions_evaluate_without_recursion() -> None:
    expression = parse(" + ".join(["x"] * 300))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)  # the evaluator must not recurse along the tree
    try:
        root = expression.evaluate({"x": Value(1.0)})
    finally:
        sys.setrecursionlimit(limit)
    assert root.data == 300.0
