"""The ``calculator`` tool: arithmetic from a model, evaluated without ``eval``.

A model's expression is untrusted text. It is parsed with ``ast.parse(mode="eval")`` and
walked node by node; anything that is not a number, an arithmetic operator, one of a few
``math`` functions or the constants ``pi`` and ``e`` is refused, so there is no way to
reach names, attributes or imports. Python's integers are unbounded, so sizes are capped
*before* the expensive step: ``9**9**9`` is refused from the operands' sizes without
computing it. Results are ``int`` or ``float`` (not ``Decimal``): the model reads them as
text, and ``math`` works on floats anyway.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Final

Number = int | float

MAX_EXPRESSION_LENGTH: Final = 500
MAX_NODES: Final = 200
MAX_DEPTH: Final = 60
MAX_INT_BITS: Final = 4096  # about 1,233 decimal digits
MAX_ROUND_DIGITS: Final = 100


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot evaluate; ``str()`` reads as a reason."""


def _sqrt(x: Number) -> float:
    return math.sqrt(x)


def _log(x: Number, base: Number | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def _round(x: Number, ndigits: int | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(f"round() takes a whole number of digits up to {MAX_ROUND_DIGITS}")
    return round(x, ndigits)


def _min(*values: Number) -> Number:
    if not values:
        raise CalculatorError("min() needs at least one number")
    return min(values)


def _max(*values: Number) -> Number:
    if not values:
        raise CalculatorError("max() needs at least one number")
    return max(values)


FUNCTIONS: Final[dict[str, Callable[..., Number]]] = {
    "sqrt": _sqrt,
    "log": _log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "abs": abs,
    "round": _round,
    "min": _min,
    "max": _max,
    "floor": math.floor,
    "ceil": math.ceil,
}
CONSTANTS: Final[dict[str, float]] = {"pi": math.pi, "e": math.e}

_BINARY: Final[dict[type[ast.operator], Callable[[Number, Number], Number]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Number], Number]]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_OPERATOR_HINTS: Final[dict[type[ast.AST], str]] = {
    ast.BitXor: "'^' is not a power here: write 2**3",
    ast.LShift: "bit shifts are not supported",
    ast.RShift: "bit shifts are not supported",
    ast.BitAnd: "bitwise operators are not supported",
    ast.BitOr: "bitwise operators are not supported",
    ast.MatMult: "'@' is not supported",
    ast.Invert: "'~' is not supported",
    ast.Not: "'not' is not supported",
}


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression, or raise ``CalculatorError`` saying why not."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    text = expression.strip()
    if not text:
        raise CalculatorError("the expression is empty")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalculatorError("the expression is not valid arithmetic") from exc
    node_count = sum(1 for _ in ast.walk(tree))
    if node_count > MAX_NODES:
        raise CalculatorError(f"the expression has more than {MAX_NODES} parts")
    try:
        result = _Evaluator().visit(tree.body, depth=0)
    except CalculatorError:
        raise
    except ZeroDivisionError as exc:
        raise CalculatorError("division by zero") from exc
    except OverflowError as exc:
        raise CalculatorError("the result is too large") from exc
    except (ValueError, TypeError) as exc:
        raise CalculatorError(f"math error: {exc}") from exc
    return _checked(result)


class _Evaluator:
    """Walks the tree; every node type not handled here is refused."""

    def visit(self, node: ast.expr, *, depth: int) -> Number:
        if depth > MAX_DEPTH:
            raise CalculatorError(f"the expression is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _checked(_UNARY[type(node.op)](self.visit(node.operand, depth=depth + 1)))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base = self.visit(node.left, depth=depth + 1)
            exponent = self.visit(node.right, depth=depth + 1)
            return _power(base, exponent)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left = self.visit(node.left, depth=depth + 1)
            right = self.visit(node.right, depth=depth + 1)
            return _checked(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.Call):
            return self._call(node, depth=depth)
        raise CalculatorError(_refusal(node))

    def _constant(self, node: ast.Constant) -> Number:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CalculatorError(f"only numbers are allowed, not {type(value).__name__}")
        return _checked(value)

    def _name(self, node: ast.Name) -> Number:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise CalculatorError(f"unknown name {node.id!r}; constants: {', '.join(CONSTANTS)}")

    def _call(self, node: ast.Call, *, depth: int) -> Number:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            allowed = ", ".join(FUNCTIONS)
            raise CalculatorError(f"only these functions can be called: {allowed}")
        if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
            raise CalculatorError("functions take plain positional arguments only")
        args = [self.visit(arg, depth=depth + 1) for arg in node.args]
        function = FUNCTIONS[node.func.id]
        try:
            return _checked(function(*args))
        except TypeError as exc:
            raise CalculatorError(f"{node.func.id}() was given the wrong arguments") from exc


def _power(base: Number, exponent: Number) -> Number:
    """``base ** exponent``, refused before computing when the integer result would be huge."""
    exact = isinstance(base, int) and isinstance(exponent, int)
    if exact and exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS:
        raise CalculatorError(f"the result of the power would have more than {MAX_INT_BITS} bits")
    result = base**exponent
    if isinstance(result, complex):
        raise CalculatorError("the result is not a real number")
    return _checked(result)


def _checked(value: Number) -> Number:
    """Refuse non-finite floats and integers past the size cap."""
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("the result is too large or undefined")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"the result would have more than {MAX_INT_BITS} bits")
    return value


def _refusal(node: ast.AST) -> str:
    op = getattr(node, "op", None)
    if op is not None and type(op) in _OPERATOR_HINTS:
        return _OPERATOR_HINTS[type(op)]
    return f"{type(node).__name__} is not allowed in a calculation"
