"""YAML documents validated by pydantic, with errors that name the file, line and field.

Used for policy files, datasheets and model cards: a user's mistake is reported as ``file:line: field: message``,
never as a stack trace. Cost is bounded before any value is built (:mod:`core.inputs.limits`): the file's size, the
number
of values counting every alias expansion, the nesting depth and the length of integer literals; only the safe scalar
types are constructed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import BadInput
from core.inputs.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_DEPTH,
    MAX_DOCUMENT_NODES,
    MAX_INT_LITERAL_CHARS,
    describe_bytes,
    read_bounded,
)

M = TypeVar("M", bound=BaseModel)
#: Validation errors listed for one document (the rest are counted).
MAX_PROBLEMS_SHOWN = 20


class _Located:
    """A parsed YAML document plus the line of every key path in it."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:  # noqa: ANN401
        """Python values of a node composed by :func:`_compose` (depth and expanded size already bounded)."""
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = _scalar(key_node)
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


#: libyaml's parser when PyYAML was built with it (linear time; PyYAML's pure-Python scanner is quadratic on long
#: flow collections), else the pure-Python one. Only the event parser is used: composition is ours (below).
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
#: Scalar types a document may hold (YAML 1.1 core schema as PyYAML's safe loader resolves it).
_SCALAR_TAGS = frozenset(f"{_TAG}{t}" for t in ("null", "bool", "int", "float", "str", "timestamp"))
_COLLECTION_TAGS = (None, "!", yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG)
_STR, _INT, _MERGE = f"{_TAG}str", f"{_TAG}int", f"{_TAG}merge"
_RESOLVER = yaml.resolver.Resolver()
#: What YAML 1.2's core schema reads as a bool, int or float. PyYAML resolves by YAML 1.1, which also reads
#: ``yes``/``on``, ``1_000``, ``010`` (octal), ``0b1``, ``190:20:30`` (base 60) as such; those are refused as ambiguous.
_YAML12_FORMS = {
    f"{_TAG}bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
    f"{_TAG}int": re.compile(r"[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+"),
    f"{_TAG}float": re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"),
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _scalar(node: yaml.Node) -> Any:  # noqa: ANN401
    """The Python value of a scalar node whose tag :func:`_compose` allowed; bad values name their line."""
    value = node.value
    if node.tag == _STR:
        if "\x00" in value:  # only an escape ("\0", "\x00") can write it: PostgreSQL text cannot hold it
            raise BadInput(f"{node.start_mark.line + 1}: text holds a NUL character (U+0000), which no Countersign "
                           "store keeps")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # "\ud800" escapes (PyYAML's pure-Python scanner lets them through)
                raise BadInput(f"{node.start_mark.line + 1}: text holds an unpaired surrogate code point") from None
        return value
    if node.tag == _INT and len(value) > MAX_INT_LITERAL_CHARS:
        raise BadInput(f"{node.start_mark.line + 1}: integer {_short(value)!r} is longer than "
                       f"{MAX_INT_LITERAL_CHARS} characters")
    try:
        return _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
    except Exception as exc:  # noqa: BLE001 - int(), float(), datetime(), a bool table: any failure is the value's
        kind = node.tag.removeprefix(_TAG)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(f"{node.start_mark.line + 1}: cannot read {_short(value)!r} as {kind}: {_short(reason, 100)}"
                       ) from None


class _Frame:
    """A list or mapping being composed: its node, its expanded size and height, and a mapping's pending key."""

    __slots__ = ("anchor", "height", "key", "node", "size")

    def __init__(self, node: yaml.Node, anchor: str | None) -> None:
        self.node, self.anchor = node, anchor
        self.size, self.height = 1, 1
        self.key: yaml.Node | None = None


def _compose(loader: Any) -> yaml.Node | None:  # noqa: ANN401, C901, PLR0912
    """The one document of an event stream as nodes, refusing what would make it costly before building anything.

    Iterative (no recursion, whatever the nesting). Aliases are allowed, but every ``*name`` counts as the full
    size of the value it names towards :data:`MAX_DOCUMENT_NODES`, and as its height towards
    :data:`MAX_DOCUMENT_DEPTH`, so an "exponential entity expansion" is refused after reading a few hundred bytes.
    Tags beyond the safe scalar types, merge keys ``<<`` and keys that are lists or mappings are refused.
    """
    anchors: dict[str, tuple[yaml.Node, int, int]] = {}
    stack: list[_Frame] = []
    total = 0
    root: yaml.Node | None = None
    documents = 0

    def line(mark: Any) -> int:  # noqa: ANN401
        return mark.line + 1 if mark is not None else 1

    def count(size: int, mark: Any) -> None:  # noqa: ANN401
        nonlocal total
        total += size
        if total > MAX_DOCUMENT_NODES:
            raise BadInput(f"{line(mark)}: the document holds more than {MAX_DOCUMENT_NODES:,} values (each alias "
                           "counts as the whole value it repeats)")

    def add(node: yaml.Node, size: int, height: int, mark: Any, counted: bool = False) -> None:  # noqa: ANN401
        """Attach a finished node (``height``: levels of lists/mappings it holds) to the collection being built."""
        nonlocal root
        if not counted:
            count(size, mark)
        if len(stack) + height > MAX_DOCUMENT_DEPTH:
            raise BadInput(f"{line(mark)}: lists and mappings are nested deeper than {MAX_DOCUMENT_DEPTH} levels")
        if not stack:
            root = node
            return
        parent = stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            if not isinstance(node, yaml.ScalarNode):
                raise BadInput(f"{line(mark)}: a mapping key must be a plain value, not a list or mapping")
            if node.tag == _MERGE:
                raise BadInput(f"{line(mark)}: YAML merge keys (<<) are not supported; write the keys out")
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def remember(anchor: str | None, node: yaml.Node, size: int, height: int) -> None:
        if anchor is not None:
            anchors[anchor] = (node, size, height)

    while True:
        event = loader.get_event()
        if isinstance(event, yaml.StreamEndEvent):
            return root
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise BadInput(f"{line(event.start_mark)}: expected a single YAML document, found another")
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise BadInput(f"{line(event.start_mark)}: alias *{_short(str(event.anchor))} names no anchor defined "
                               "before it (an alias cannot refer to the value that contains it)")
            node, size, height = anchors[event.anchor]
            add(node, size, height, event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit) if event.implicit[0] else _STR
            if tag == f"{_TAG}value":
                tag = _STR  # YAML 1.1's "=" value key: plain text here
            if event.implicit[0] and tag in _YAML12_FORMS and not _YAML12_FORMS[tag].fullmatch(event.value):
                kind = tag.removeprefix(_TAG)
                noun = {"bool": "a boolean", "int": "an integer", "float": "a number"}[kind]
                raise BadInput(f"{line(event.start_mark)}: {_short(event.value)!r} is {noun} only in YAML 1.1 "
                               f"(YAML 1.2 reads it {'as text' if kind == 'bool' else 'differently'}); write "
                               f"{'true or false' if kind == 'bool' else 'the plain number'}, or quote it if it is "
                               "text")
            if tag not in _SCALAR_TAGS and tag != _MERGE:
                raise BadInput(f"{line(event.start_mark)}: YAML tag {_short(str(tag), 60)!r} is not supported here")
            if tag == _MERGE and not (stack and isinstance(stack[-1].node, yaml.MappingNode)
                                      and stack[-1].key is None):
                tag = _STR  # "<<" as a value or list item is just text
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            add(node, 1, 0, event.start_mark)
            remember(event.anchor, node, 1, 0)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if event.tag not in _COLLECTION_TAGS:
                raise BadInput(f"{line(event.start_mark)}: YAML tag {_short(str(event.tag), 60)!r} is not supported "
                               "here")
            is_map = isinstance(event, yaml.MappingStartEvent)
            if stack and isinstance(stack[-1].node, yaml.MappingNode) and stack[-1].key is None:
                raise BadInput(f"{line(event.start_mark)}: a mapping key must be a plain value, not a list or mapping")
            if len(stack) + 1 > MAX_DOCUMENT_DEPTH:
                raise BadInput(f"{line(event.start_mark)}: lists and mappings are nested deeper than "
                               f"{MAX_DOCUMENT_DEPTH} levels")
            count(1, event.start_mark)
            node_type = yaml.MappingNode if is_map else yaml.SequenceNode
            tag = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG if is_map else (
                yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG)
            stack.append(_Frame(node_type(tag, [], event.start_mark, None, flow_style=event.flow_style),
                                event.anchor))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = stack.pop()
            frame.node.end_mark = event.end_mark
            add(frame.node, frame.size, frame.height, frame.node.start_mark, counted=True)  # counted as it came
            remember(frame.anchor, frame.node, frame.size, frame.height)


def parse_yaml(text: str, source: str) -> tuple[Any, _Located]:
    """Parse one YAML document; syntax errors and inputs beyond :mod:`core.inputs.limits` name the source and line."""
    located = _Located()
    size = len(text) if len(text) > MAX_DOCUMENT_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise BadInput(f"{source}: {describe_bytes(size)}; the limit is {describe_bytes(MAX_DOCUMENT_BYTES)}")
    loader = None
    try:
        loader = _LOADER(text)
        node = _compose(loader)
    except UnicodeEncodeError:  # libyaml takes UTF-8: an unpaired surrogate cannot be text of a file
        raise BadInput(f"{source}: not valid Unicode text (unpaired surrogate)") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise BadInput(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most control characters)
        where = f"{source}:{text.count(chr(10), 0, exc.position) + 1}" if isinstance(exc.position, int) else source
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise BadInput(f"{where}: invalid YAML: character {char} is not allowed ({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{source}: invalid YAML: {_short(str(exc).splitlines()[0], 200)}") from None
    except BadInput as exc:
        raise BadInput(f"{source}:{exc.message}") from None
    finally:
        if loader is not None:
            loader.dispose()
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
            if len(problems) == MAX_PROBLEMS_SHOWN:
                break
        more = exc.error_count() - len(problems)
        raise BadInput("\n".join(problems) + (f"\n… and {more} more" if more > 0 else "")) from None


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
    raw = read_bounded(path, MAX_DOCUMENT_BYTES, "file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    data, located = parse_yaml(text, source)
    return validate(model, data, located, source), text
