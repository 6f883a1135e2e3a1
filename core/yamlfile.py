"""YAML documents validated by pydantic, with errors that name the file, line and field.

Used for policy files, datasheets and model cards: a user's mistake is reported as ``file:line: field: message``,
never as a stack trace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import BadInput

M = TypeVar("M", bound=BaseModel)


class _Located:
    """A parsed YAML document plus the line of every key path in it."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:  # noqa: ANN401
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else (
                    _scalar(key_node))
                if key in result:
                    raise BadInput(f"{key_node.start_mark.line + 1}: duplicate key {key!r}")
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return _scalar(node)

    def line_of(self, path: tuple[Any, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def _scalar(node: yaml.Node) -> Any:  # noqa: ANN401
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str) -> tuple[Any, _Located]:
    """Parse one YAML document; syntax errors name the source and line."""
    located = _Located()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise BadInput(f"{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{source}: invalid YAML: {exc}") from None
    if node is None:
        return None, located
    try:
        return located.build(node, ()), located
    except BadInput as exc:
        raise BadInput(f"{source}:{exc.message}") from None


def validate(model: type[M], data: Any, located: _Located, source: str,  # noqa: ANN401
             ignore_loc: set[str] | frozenset[str] = frozenset()) -> M:
    """Validate parsed YAML against a pydantic model; every error names file, line and field.

    ``ignore_loc`` lists union tags pydantic inserts into error locations that are not keys of the document.
    """
    if not isinstance(data, dict):
        raise BadInput(f"{source}:1: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = _document_path(data, error["loc"], ignore_loc)
            message = str(error["msg"]).removeprefix("Value error, ")
            node = _node_at(data, loc)
            if isinstance(node, dict):  # an error about a whole item: point at the key the message names
                named = [k for k in node if isinstance(k, str) and f"'{k}'" in message]
                if named:
                    loc = (*loc, named[0])
            line = located.line_of(tuple(loc)) or 1
            field = ".".join(str(p) for p in loc) or "(document)"
            if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data.get(loc[0]), list):
                item = data[loc[0]][loc[1]] if loc[1] < len(data[loc[0]]) else None
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    field += f" (id {item['id']})"
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{source}:{line}: {field}: {message}")
        raise BadInput("\n".join(problems)) from None


_UNION_TAGS: frozenset[str] = frozenset({"str", "dict[str,str]", "list[str]", "function-after", "function-before",
                                         "int", "float", "bool", "tuple[float, float]", "literal['all']"})


def _node_at(data: Any, loc: tuple[Any, ...]) -> Any:  # noqa: ANN401
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _document_path(data: Any, loc: tuple[Any, ...], ignore: set[str] | frozenset[str]) -> tuple[Any, ...]:  # noqa: ANN401
    """Drop union tags from a pydantic error location, keeping the keys that exist in the document."""
    path: list[Any] = []
    node = data
    previous: Any = None
    for part in loc:
        after_index, previous = isinstance(previous, int), part
        if after_index and isinstance(part, str) and part in ignore:
            continue  # a discriminated union's tag, placed right after the list index
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and (part in ignore or part in _UNION_TAGS or part.startswith(("function-",
                                                                                                  "list[", "dict["))):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def load_model_file(model: type[M], path: str | Path) -> tuple[M, str]:
    """Read, parse and validate a YAML file; return the model and the raw text."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    data, located = parse_yaml(text, source)
    return validate(model, data, located, source), text
