"""nanoGPT's config/*.py files, read as data: their plain assignments, never executed.

nanoGPT runs its config files with exec(); we parse them with `ast` and keep each top-level
`name = <literal>` (numbers, strings, booleans, None, containers of these, and arithmetic on
numbers such as `5 * 8`). Everything else (imports, `'ft-' + str(time.time())`, if-blocks)
is reported as an ignored line, as are settings with no meaning here (`dataset`, `backend`)
and names TrainConfig does not know.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from worker.engine.config.train_config import TrainConfig
from worker.engine.errors import ConfigError

# nanoGPT settings that have no counterpart here, and why.
NOT_USED = {
    "dataset": "the data comes from --data (or the dataset chosen in the studio)",
    "backend": "distributed training picks its own backend",
}
_NUMBER_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_MAX_EXPONENT = 64  # keeps `10 ** 10 ** 10` from hanging the parser
_MAX_INT_BITS = 1024  # and `(10**64)**64 * ...` chains: no knob needs a bigger number


@dataclass
class IgnoredLine:
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}  ({self.why})"


@dataclass
class NanoGPTConfig:
    values: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys, plain values
    ignored: list[IgnoredLine] = field(default_factory=list)


def parse_nanogpt_config(source: str, *, name: str = "config.py") -> NanoGPTConfig:
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise ConfigError(f"{name} is not valid Python: {exc.msg} (line {exc.lineno})",
                          field="config") from exc  # fmt: skip
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ConfigError(f"{name} cannot be parsed as Python: {exc}", field="config") from exc
    known = {f.name for f in fields(TrainConfig)}
    result = NanoGPTConfig()

    lines = source.splitlines()  # once: ast.get_source_segment would split per node

    def ignore(node: ast.stmt, why: str) -> None:
        line = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
        result.ignored.append(IgnoredLine(node.lineno, line[node.col_offset :].rstrip(), why))

    for node in tree.body:
        if _is_docstring(node):
            continue
        if not (
            isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
        ):
            ignore(node, "not a plain assignment")
            continue
        try:
            value = literal_value(node.value)
        except ValueError:
            ignore(node, "not a literal value")
            continue
        for target in node.targets:
            assert isinstance(target, ast.Name)
            if target.id in NOT_USED:
                ignore(node, f"{target.id} is not used here: {NOT_USED[target.id]}")
            elif target.id not in known:
                ignore(node, f"{target.id} is not a training setting")
            else:
                result.values[target.id] = value
    return result


def literal_value(node: ast.expr) -> Any:
    """A literal (ast.literal_eval's rules) or arithmetic on number literals; ValueError else."""
    if isinstance(node, ast.BinOp) and type(node.op) in _NUMBER_OPS:
        left, right = literal_value(node.left), literal_value(node.right)
        if not all(_is_number(v) for v in (left, right)):
            raise ValueError("arithmetic on non-numbers")
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError("exponent too large")
        try:
            value = _NUMBER_OPS[type(node.op)](left, right)
        except ArithmeticError as exc:
            raise ValueError(str(exc)) from exc
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise ValueError("number too large")
        return value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = literal_value(node.operand)
        if not _is_number(operand):
            raise ValueError("sign of a non-number")
        return -operand if isinstance(node.op, ast.USub) else operand
    try:
        return ast.literal_eval(node)
    except (TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
