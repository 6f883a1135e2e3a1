"""OpenLineage 2-0-2 events: validation against the official JSON Schema, identities, and reading a JSON-lines file.

Follows the OpenLineage specification 2-0-2 (https://openlineage.io/spec/2-0-2/OpenLineage.json, shipped with its
Apache-2.0 licence in ``core/schemas/openlineage``) and the facet schemas Countersign interprets —
``SchemaDatasetFacet`` 1-2-0, ``SymlinksDatasetFacet`` 1-0-1, ``ColumnLineageDatasetFacet`` 1-2-0 and
``DatasourceDatasetFacet`` 1-0-1. Each event is validated against the schema of its kind with format checking
(``date-time`` per RFC 3339, so a time zone is required; ``uuid``; ``uri``), and a facet Countersign interprets
against its own facet schema; every other facet only against the spec's base facet (``_producer``,
``_schemaURL``). The three top-level kinds are accepted:

- ``RunEvent`` (``run`` and ``job``): a run's state transition (START, RUNNING, COMPLETE, ABORT, FAIL, OTHER);
- ``JobEvent`` (``job``, no ``run``): static job metadata and the job's declared inputs and outputs;
- ``DatasetEvent`` (``dataset``, not both ``run`` and ``job``): static dataset metadata.

**Identity** is the OpenLineage one: a dataset or a job is the pair (namespace, name); a run is its ``runId`` (a
UUID, compared in lower case as RFC 9562 asks). Node ids keep the pair apart by percent-encoding (RFC 3986) ``%`` and
``/`` in the namespace, so ``(s3://bucket, raw/events.parquet)`` is ``ol-dataset:s3:%2F%2Fbucket/raw/events.parquet``
and ``(s3://bucket/raw, events.parquet)`` is ``ol-dataset:s3:%2F%2Fbucket%2Fraw/events.parquet`` — two nodes.

Reading is bounded before work starts (:mod:`core.inputs.limits`); every malformed line is reported with its number, and
one malformed line imports nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported when an event is validated: its format checkers cost ~2 s at import
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

from core.errors import BadInput
from core.inputs.limits import (
    MAX_JSON_DEPTH,
    MAX_OPENLINEAGE_BYTES,
    MAX_OPENLINEAGE_DATASET_REFS,
    MAX_OPENLINEAGE_EVENT_BYTES,
    MAX_OPENLINEAGE_EVENT_DATASETS,
    MAX_OPENLINEAGE_EVENTS,
    MAX_OPENLINEAGE_GRAPH,
    describe_bytes,
    read_bounded,
)

__all__ = [
    "EVENT_KINDS",
    "EVENT_TYPES",
    "FACET_SCHEMAS",
    "SPEC_URL",
    "SPEC_VERSION",
    "TERMINAL_TYPES",
    "Event",
    "dataset_id",
    "classify",
    "deleted",
    "event_kind",
    "event_problem",
    "job_id",
    "parse_openlineage",
    "run_id",
    "split_id",
    "without_leap_second",
]

SPEC_VERSION = "2-0-2"
SPEC_URL = f"https://openlineage.io/spec/{SPEC_VERSION}/OpenLineage.json"
EVENT_KINDS = ("RunEvent", "JobEvent", "DatasetEvent")
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
TERMINAL_TYPES = ("COMPLETE", "ABORT", "FAIL")
#: Dataset facets Countersign interprets, each validated against its own schema (facet key → schema file).
FACET_SCHEMAS = {"schema": "SchemaDatasetFacet", "symlinks": "SymlinksDatasetFacet",
                 "columnLineage": "ColumnLineageDatasetFacet", "dataSource": "DatasourceDatasetFacet"}
MAX_ERRORS_SHOWN = 20
_SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "openlineage" / SPEC_VERSION


# ------------------------------------------------------------------------------------------------- identity
def _namespace(namespace: str) -> str:
    return namespace.replace("%", "%25").replace("/", "%2F")


def dataset_id(namespace: str, name: str) -> str:
    """The node id of the dataset (namespace, name): ``ol-dataset:`` + percent-encoded namespace + ``/`` + name."""
    return f"ol-dataset:{_namespace(namespace)}/{name}"


def job_id(namespace: str, name: str) -> str:
    """The node id of the job (namespace, name): ``job:`` + percent-encoded namespace + ``/`` + name."""
    return f"job:{_namespace(namespace)}/{name}"


def run_id(run_uuid: str) -> str:
    """The node id of a run: ``run:`` + its UUID in lower case."""
    return f"run:{run_uuid.lower()}"


def split_id(node_id: str) -> tuple[str, str, str]:
    """``(kind prefix, namespace, name)`` of a dataset or job node id (the inverse of :func:`dataset_id`)."""
    prefix, _, rest = node_id.partition(":")
    encoded, _, name = rest.partition("/")
    return prefix, encoded.replace("%2F", "/").replace("%2f", "/").replace("%25", "%"), name


# ------------------------------------------------------------------------------------------------- validation
@cache
def _registry() -> Registry:
    from referencing import Registry, Resource

    resources = []
    for path in [_SCHEMA_DIR / "OpenLineage.json", *sorted((_SCHEMA_DIR / "facets").glob("*.json"))]:
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


_LEAP_SECOND = re.compile(r"(T\d\d:\d\d:)60(?=[.,zZ+-])")


def without_leap_second(text: str) -> str:
    """An RFC 3339 date-time with a leap second (``…:60``, allowed by RFC 3339 §5.6) read as ``…:59``, the
    nearest instant Python can represent; any other text unchanged."""
    return _LEAP_SECOND.sub(r"\g<1>59", text, count=1)


@cache
def _format_checker() -> FormatChecker:
    """JSON Schema's format checks, with RFC 3339 leap seconds accepted (jsonschema's ``date-time`` refuses them)."""
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=Draft202012Validator.FORMAT_CHECKER.checkers)
    base, raises = Draft202012Validator.FORMAT_CHECKER.checkers["date-time"]

    def date_time(instance: object) -> bool:
        return bool(base(without_leap_second(instance) if isinstance(instance, str) else instance))

    checker.checkers["date-time"] = (date_time, raises)
    return checker


@cache
def _validator(ref: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": ref}, registry=_registry(), format_checker=_format_checker())


def _best_match(errors: Any) -> ValidationError | None:  # noqa: ANN401 - jsonschema's error iterator
    from jsonschema.exceptions import best_match

    return best_match(errors)


def _facet_ref(facet: str) -> str:
    name = FACET_SCHEMAS[facet]
    contents = json.loads((_SCHEMA_DIR / "facets" / f"{name}.json").read_text(encoding="utf-8"))
    return str(contents["$id"])


def _short(value: Any, limit: int = 60) -> str:  # noqa: ANN401
    text = repr(value) if not isinstance(value, str) or len(value) <= limit else repr(value[:limit]) + "…"
    return text if len(text) <= limit + 10 else text[:limit] + "…"


def _where(path: Any) -> str:  # noqa: ANN401
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "event"


def _explain(error: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    where = _where((*prefix, *error.absolute_path))
    if error.validator == "format":
        zoneless = error.validator_value == "date-time" and isinstance(error.instance, str) and not re.search(
            r"([zZ]|[+-]\d\d:\d\d)$", error.instance)
        hint = {True: " (RFC 3339: a date-time needs a time zone, e.g. Z or +02:00)", False: " (RFC 3339)"}[zoneless]
        return f"{where}: {_short(error.instance)} is not a valid {error.validator_value!r}" + (
            hint if error.validator_value == "date-time" else "")
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "type":
        return f"{where}: {_short(error.instance)} is not of type {error.validator_value!r}"
    if error.validator == "enum":
        return f"{where}: {_short(error.instance)} is not one of {', '.join(map(str, error.validator_value))}"
    return f"{where}: {error.message[:200]}"


def _candidates(event: dict[str, Any]) -> list[str]:
    """The kinds an object could be by the spec's required and forbidden fields (the ``oneOf`` branches):
    a RunEvent needs ``run`` and ``job``; a JobEvent ``job`` and no ``run``; a DatasetEvent ``dataset`` and not
    both ``job`` and ``run``."""
    kinds = []
    if "run" in event and "job" in event:
        kinds.append("RunEvent")
    if "job" in event and "run" not in event:
        kinds.append("JobEvent")
    if "dataset" in event and not ("job" in event and "run" in event):
        kinds.append("DatasetEvent")
    return kinds


def _datasets(event: dict[str, Any], kind: str) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """``(path, dataset)`` of every dataset an event of ``kind`` names (inputs, outputs, or the DatasetEvent's)."""
    if kind == "DatasetEvent":
        return [(("dataset",), event["dataset"])]
    return [((side, i), ds) for side in ("inputs", "outputs") for i, ds in enumerate(event.get(side) or [])]


def classify(event: Any) -> tuple[str | None, str | None]:  # noqa: ANN401
    """``(kind, None)`` for a valid OpenLineage 2-0-2 event, or ``(None, why not)``.

    The spec's top level is ``oneOf`` RunEvent, JobEvent, DatasetEvent: an event is valid when exactly one of them
    validates (so ``{"dataset", "run"}`` is a DatasetEvent, and ``{"dataset", "job"}`` matching both a JobEvent and
    a DatasetEvent is invalid). Facets Countersign interprets are validated against their own schemas too, unless
    marked ``_deleted``.
    """
    if not isinstance(event, dict):
        return None, "not a JSON object"
    kinds = _candidates(event)
    if not kinds:
        return None, ("not an OpenLineage event: a RunEvent needs 'run' and 'job', a JobEvent 'job' (and no 'run'), "
                      "a DatasetEvent 'dataset' (and not both 'job' and 'run')")
    named = sum(len(event[side]) for side in ("inputs", "outputs") if isinstance(event.get(side), list))
    if named > MAX_OPENLINEAGE_EVENT_DATASETS:  # before the (costlier) schema validation
        return None, f"{named:,} inputs and outputs; the limit is {MAX_OPENLINEAGE_EVENT_DATASETS:,} per event"
    errors = {kind: _best_match(_validator(f"{SPEC_URL}#/$defs/{kind}").iter_errors(event)) for kind in kinds}
    valid = [kind for kind, error in errors.items() if error is None]
    if len(valid) > 1:
        return None, (f"matches both a {valid[0]} and a {valid[1]}; the spec allows exactly one kind (give a "
                      "DatasetEvent no 'job', or a JobEvent no 'dataset')")
    if not valid:
        kind = kinds[0]
        error = errors[kind]
        return None, f"{kind}: {_explain(error) if error is not None else 'invalid'}"
    kind = valid[0]
    for path, ds in _datasets(event, kind):
        facets = ds.get("facets") or {}
        for facet in FACET_SCHEMAS:
            if _facet(facets, facet) is not None:
                error = _best_match(_validator(_facet_ref(facet)).iter_errors({facet: facets[facet]}))
                if error is not None:
                    return None, f"{kind}: {_explain(error, (*path, 'facets'))}"
    return kind, None


def event_kind(event: Any) -> str | None:  # noqa: ANN401
    """``RunEvent``, ``JobEvent`` or ``DatasetEvent`` for a valid event (``None`` if it is not valid)."""
    return classify(event)[0]


def event_problem(event: Any) -> str | None:  # noqa: ANN401
    """Why a decoded JSON value is not a valid OpenLineage 2-0-2 event (``None`` if it is)."""
    return classify(event)[1]


def _facet(facets: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A dataset facet to interpret: ``None`` when absent or marked ``_deleted`` (the spec's deletion of a facet,
    whose other fields then mean nothing)."""
    facet = facets.get(name)
    return facet if isinstance(facet, dict) and not facet.get("_deleted") else None


def deleted(facets: dict[str, Any], name: str) -> bool:
    """Whether the event deletes facet ``name`` (``_deleted: true``)."""
    facet = facets.get(name)
    return isinstance(facet, dict) and bool(facet.get("_deleted"))


# ------------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Event:
    """One valid OpenLineage event of a file: its line number, kind (``RunEvent``…) and decoded JSON."""

    line: int
    kind: str
    body: dict[str, Any]

    @property
    def time(self) -> datetime:
        """``eventTime`` as an aware datetime (RFC 3339 guarantees the offset)."""
        text = without_leap_second(self.body["eventTime"])
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


def _too_deep_or_bad_text(value: Any) -> str | None:  # noqa: ANN401
    """Why a decoded event cannot be stored as it is (nesting beyond the limit, unpaired surrogates, NUL characters),
    or ``None``.

    Iterative, so it costs one pass whatever the shape; JSON's own recursion limit is hit long before the nesting
    could exhaust memory, and that case is caught where the line is decoded.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            for key, member in item.items():
                stack.append((key, depth))
                if isinstance(member, dict | list):
                    stack.append((member, depth + 1))
                elif isinstance(member, str):
                    stack.append((member, depth))
        elif isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((member, depth + 1) for member in item if isinstance(member, dict | list | str))
        elif isinstance(item, str) and "\x00" in item:
            return "text holds a NUL character (U+0000), which no Countersign store keeps"
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"text {_short(item)} holds an unpaired surrogate (\\ud800-\\udfff) escape"
    return None


def _no_constants(name: str) -> Any:  # noqa: ANN401
    raise ValueError(f"{name} is not JSON")


def _decode(line: str) -> tuple[Any, str | None]:  # noqa: ANN401
    """``(value, None)`` or ``(None, why the line is not an acceptable JSON value)``."""
    try:
        value = json.loads(line, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, f"invalid JSON (nested deeper than {MAX_JSON_DEPTH} levels)"
    except ValueError as exc:  # NaN/Infinity, an integer beyond Python's 4,300-digit conversion limit
        return None, f"invalid JSON ({str(exc).splitlines()[0][:120]})"
    problem = _too_deep_or_bad_text(value)
    return (None, problem) if problem else (value, None)


def referenced_ids(event: Event) -> tuple[set[str], int, set[tuple[str, ...]]]:
    """What the file's bounds count for one event: the node ids it names (jobs, runs, datasets and their symlinks,
    column-lineage inputs), how many dataset references it holds, and the links it would write (edges and column
    links, by the ids as written)."""
    body = event.body
    ids: set[str] = set()
    links: set[tuple[str, ...]] = set()
    hub = None
    if event.kind in ("RunEvent", "JobEvent"):
        hub = job_id(body["job"]["namespace"], body["job"]["name"])
        ids.add(hub)
    if event.kind == "RunEvent":
        run = run_id(body["run"]["runId"])
        links.add((str(hub), run))
        hub = run
        ids.add(run)
    refs = 0
    for path, ds in _datasets(body, event.kind):
        refs += 1
        own = dataset_id(ds["namespace"], ds["name"])
        ids.add(own)
        if hub is not None:
            links.add((str(path[0]), hub, own))
        facets = ds.get("facets") or {}
        for link in (_facet(facets, "symlinks") or {}).get("identifiers") or []:
            refs += 1
            ids.add(dataset_id(link["namespace"], link["name"]))
        lineage = _facet(facets, "columnLineage") or {}
        for out, field in [*(lineage.get("fields") or {}).items(), (None, {"inputFields": lineage.get("dataset")})]:
            for source in field.get("inputFields") or []:
                refs += 1
                src = dataset_id(source["namespace"], source["name"])
                ids.add(src)
                links.add((own, str(out), src, str(source.get("field"))))
    return ids, refs, links


def parse_openlineage(path: Path) -> tuple[list[Event], str]:
    """All events of a JSON-lines file and the file's SHA-256, or :class:`BadInput` listing every malformed line.

    Bounded before the work starts (:mod:`core.inputs.limits`): the file's size is checked before it is read, each
    line's
    before it is decoded, and each decoded event's nesting and number of datasets before it is validated; the
    file's dataset references and the distinct nodes it names are counted as the lines are read, and the line that
    goes beyond a limit is named.
    """
    raw = read_bounded(path, MAX_OPENLINEAGE_BYTES, "OpenLineage file")
    events: list[Event] = []
    errors: list[str] = []
    refs, nodes, links = 0, set(), set()
    # Split on "\n" only: U+2028 and friends are legal inside JSON strings and must not end a line.
    for number, raw_line in enumerate(raw.split(b"\n"), start=1):
        if len(raw_line) > MAX_OPENLINEAGE_EVENT_BYTES:
            errors.append(f"{path}:{number}: event is {describe_bytes(len(raw_line))}; the limit is "
                          f"{describe_bytes(MAX_OPENLINEAGE_EVENT_BYTES)}")
            continue
        try:
            line = raw_line.rstrip(b"\r").decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"{path}:{number}: not valid UTF-8 (byte {exc.start})")
            continue
        if not line.strip():
            continue
        if len(events) + len(errors) >= MAX_OPENLINEAGE_EVENTS:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_EVENTS:,} events in one file; split it")
        value, problem = _decode(line)
        kind = None
        if problem is None:
            kind, problem = classify(value)
        if problem or kind is None:
            errors.append(f"{path}:{number}: {problem}")
            continue
        event = Event(number, kind, value)
        events.append(event)
        ids, count, written = referenced_ids(event)
        refs += count
        if refs > MAX_OPENLINEAGE_DATASET_REFS:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_DATASET_REFS:,} dataset references "
                           "(inputs, outputs, symlinks and column-lineage inputs) in one file; split it")
        nodes |= ids
        links |= written
        if len(nodes) + len(links) > MAX_OPENLINEAGE_GRAPH:
            raise BadInput(f"{path}:{number}: more than {MAX_OPENLINEAGE_GRAPH:,} lineage nodes and links (distinct "
                           "jobs, runs and datasets, the edges between them and column links) in one file; "
                           "split it")
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = f"\n… and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
        raise BadInput(f"{len(errors)} malformed OpenLineage line(s); nothing was imported:\n" + "\n".join(shown)
                       + more)
    if not events:
        raise BadInput(f"{path}: no OpenLineage events")
    return events, hashlib.sha256(raw).hexdigest()
