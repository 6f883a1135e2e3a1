"""Bounded cost of hostile input: CPU time and peak memory of each input at the limits, against the raw parse.

Goal (issue 12 (e)): every policy, model card or OpenLineage file is read or refused within 2 s of CPU and 256 MiB of
peak memory, whatever it holds, on this machine. ``tests/core/inputs/test_input_bounds.py`` only guards against
runaway cost (an order of magnitude above these figures), so the figures themselves live here.

For each input: CPU seconds (``time.process_time``) and growth of the process's peak resident set (Linux ``VmHWM``,
reset before each run) of the product's reader, best of 3; beside it, the same measurement of the raw parse of the same
bytes — ``json.loads`` line by line for OpenLineage, libyaml's ``CSafeLoader`` composing the node graph (aliases not
expanded) for YAML — as the floor no reader of that file can go below.

Inputs: the "billion laughs" alias bomb as a policy; a model card near the node limit and one at the depth limit;
an OpenLineage file whose references reach the per-file limit (the same 998 datasets on every line); one whose
nodes and links reach the graph limit; one event at the per-event dataset limit; a 1 MiB single-line event.

Run: ``.venv/bin/python -m benchmarks.input_bounds`` (``--smoke`` runs each input once).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from benchmarks._common import parser, report
from core.catalog.documents import ModelCard
from core.catalog.lineage import parse_openlineage
from core.errors import BadInput
from core.inputs.limits import (
    MAX_DOCUMENT_DEPTH,
    MAX_DOCUMENT_NODES,
    MAX_OPENLINEAGE_DATASET_REFS,
    MAX_OPENLINEAGE_EVENT_BYTES,
    MAX_OPENLINEAGE_EVENT_DATASETS,
    MAX_OPENLINEAGE_GRAPH,
)
from core.inputs.yamlfile import load_model_file
from core.policy.rules import load_policy_file

CPU_GOAL_S = 2.0
MEMORY_GOAL_MIB = 256
_PROC = Path("/proc/self")


def status_kib(field: str) -> int:
    """A field of this process's ``/proc/self/status`` in KiB (``VmRSS``, ``VmHWM``)."""
    for line in (_PROC / "status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux); False where that is not possible."""
    try:
        (_PROC / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(fn: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Best-of-``repeats`` CPU seconds and peak-RSS growth (MiB, None where unmeasurable) of ``fn``; its outcome."""
    best_cpu, best_mem, outcome = float("inf"), None, ""
    for _ in range(repeats):
        tracked = reset_peak()
        base = status_kib("VmRSS") if tracked else 0
        start = time.process_time()
        try:
            fn()
            outcome = "read"
        except BadInput:
            outcome = "refused"
        cpu = time.process_time() - start
        best_cpu = min(best_cpu, cpu)
        if tracked:
            grown = (status_kib("VmHWM") - base) / 1024
            best_mem = grown if best_mem is None else min(best_mem, grown)
    return {"outcome": outcome, "cpu_s": round(best_cpu, 4),
            "peak_mib": None if best_mem is None else round(best_mem, 1)}


def _event(run: int, inputs: list[str], outputs: tuple[str, ...] | list[str] = ()) -> str:
    def datasets(names: list[str]) -> list[dict[str, str]]:
        return [{"namespace": "db", "name": n} for n in names]

    return json.dumps({
        "eventType": "COMPLETE", "eventTime": "2024-05-01T12:00:00.000Z", "producer": "https://example.org/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
        "run": {"runId": f"00000000-0000-4000-8000-{run:012d}"}, "job": {"namespace": "ns", "name": "job"},
        "inputs": datasets(inputs), "outputs": datasets(outputs)})


def openlineage_inputs(work: Path) -> dict[str, Path]:
    files: dict[str, list[str]] = {}
    same = _event(0, [f"t{i}" for i in range(998)])
    files["openlineage_references_at_limit"] = [same] * (MAX_OPENLINEAGE_DATASET_REFS // 999 + 1)
    lines, budget, index = [], MAX_OPENLINEAGE_GRAPH - 1, 0
    while budget >= 5:
        width = min(MAX_OPENLINEAGE_EVENT_DATASETS, (budget - 2) // 2)
        lines.append(_event(index, [f"e{index}-{i}" for i in range(width - 1)], [f"o{index}"]))
        budget -= 2 + 2 * width
        index += 1
    files["openlineage_graph_at_limit"] = lines
    widest = [f"t{i}" for i in range(MAX_OPENLINEAGE_EVENT_DATASETS - 1)]
    files["openlineage_event_at_dataset_limit"] = [_event(0, widest)]
    padding = MAX_OPENLINEAGE_EVENT_BYTES - len(_event(0, ["t"])) - 200
    files["openlineage_1mib_event"] = [_event(0, ["t" + "x" * padding])]
    paths = {}
    for name, content in files.items():
        path = work / f"{name}.jsonl"
        path.write_text("\n".join(content))
        paths[name] = path
    return paths


def yaml_inputs(work: Path) -> dict[str, Path]:
    texts: dict[str, str] = {}
    lines = ["policy: bomb", "version: 1", "a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]" for level in range(1, 9)]
    texts["yaml_alias_bomb"] = "\n".join([*lines, "checks: [*a8]"]) + "\n"
    wide = ["limitations:"] + [f"  - [{i}, {i + 1}]" for i in range(MAX_DOCUMENT_NODES // 3 - 10)]
    texts["card_nodes_near_limit"] = "\n".join(wide) + "\n"
    depth = MAX_DOCUMENT_DEPTH - 2
    texts["card_depth_at_limit"] = "limitations: " + "[" * depth + "1" + "]" * depth + "\n"
    paths = {}
    for name, text in texts.items():
        path = work / f"{name}.yaml"
        path.write_text(text)
        paths[name] = path
    return paths


def _raw_json(path: Path) -> None:
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                json.loads(line)


def _raw_yaml(path: Path) -> None:
    yaml.compose(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    repeats = 1 if args.smoke else 3
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        for name, path in openlineage_inputs(work).items():
            results[name] = {"bytes": path.stat().st_size,
                             "product": measure(lambda path=path: parse_openlineage(path), repeats),
                             "raw_json": measure(lambda path=path: _raw_json(path), repeats)}
        for name, path in yaml_inputs(work).items():
            read = load_policy_file if name.startswith("yaml_") else lambda p: load_model_file(ModelCard, p)
            results[name] = {"bytes": path.stat().st_size,
                             "product": measure(lambda path=path, read=read: read(path), repeats),
                             "raw_yaml_compose": measure(lambda path=path: _raw_yaml(path), repeats)}
    worst_cpu = max(r["product"]["cpu_s"] for r in results.values())
    mems = [r["product"]["peak_mib"] for r in results.values() if r["product"]["peak_mib"] is not None]
    report("input_bounds", {
        "smoke": args.smoke,
        "inputs": results,
        "worst_cpu_s": worst_cpu,
        "worst_peak_mib": max(mems, default=None),
        "goals": {"cpu_under_2_s": worst_cpu < CPU_GOAL_S,
                  "memory_under_256_mib": all(m < MEMORY_GOAL_MIB for m in mems)},
    })


if __name__ == "__main__":
    main()
