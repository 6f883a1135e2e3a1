"""Regulator export speed: a report for a model with 50 evaluations and 10,000 relevant ledger entries in under 10 s,
and verification of its evidence bundle in under 5 s.

Builds a database with the German-credit demo model, evaluates it 50 times (real evaluations, real SHAP-free policy),
adds relevant ledger entries (datasheet/card edits are real ledgered events; the remainder bulk-appended against the
model's subject) until 10,000 relate to the model, then times ``report`` and ``verify_bundle``.

Run: ``.venv/bin/python -m benchmarks.report_export`` (``--smoke`` for a tiny CI run).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._common import parser, report, timed
from core.api.countersign import Countersign
from core.demo import data as demo_data
from core.demo.seed import enrol
from core.evidence.bundle_verify import verify_bundle
from core.ledger.chain import Event

POLICY = """policy: bench
version: 1
checks:
  - id: auc
    metric: roc_auc
    gte: 0.5
  - id: dp-sex
    fairness: demographic_parity_ratio
    sensitive_feature: sex
    gte: 0.5
  - id: drift
    drift: psi
    lte: 0.2
approvals:
  production: {roles: [ml_lead, compliance_officer]}
"""


def build(work: Path, evaluations: int, entries: int) -> Countersign:
    cs = Countersign.init(work / "bench.duckdb", admin="root", password="root-password", origin="bench/report")
    root = cs.login("root", "root-password")
    for name, role in (("dana", "data_scientist"), ("chloe", "compliance_officer"), ("aude", "auditor")):
        enrol(cs, root, name, [role], f"{name}-password")
    dana, chloe = cs.login("dana", "dana-password"), cs.login("chloe", "chloe-password")
    prepared = demo_data.prepare_all(work / "prepared")
    cs.register_dataset(dana, prepared["german-credit"], name="german-credit", version="1")
    model = demo_data.train_models({"german-credit": prepared["german-credit"]}, work / "models",
                                   only={"german-logreg"})["german-logreg"]
    cs.register_model(dana, model, name="scorer", version="1", trained_on=["german-credit@1"])
    (work / "bench.yaml").write_text(POLICY)
    cs.add_policy(chloe, work / "bench.yaml")
    cs.assign_policy(chloe, "scorer", "bench")
    with cs.store.held():
        for _ in range(evaluations):
            cs.evaluate(dana, "scorer@1", data="german-credit@1", policy="bench", label="good_credit")
        with cs.store.transaction() as tx:
            remaining = max(0, entries - evaluations - 3)
            cs.ledger().append_many(tx, signer=dana.signer, actor="dana", role="data_scientist", events=(
                Event("model.note", "model:scorer@1", {"i": i, "note": "monitoring observation"})
                for i in range(remaining)))
    return cs


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    evaluations, entries = (3, 200) if args.smoke else (50, 10_000)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        build_s, cs = timed(lambda: build(work, evaluations, entries))
        aude = cs.login("aude", "aude-password")
        report_s, result = timed(lambda: cs.report(aude, "scorer", out=work / "out"))
        verify_s, summary = timed(lambda: verify_bundle(work / "out"))
    report("report_export", {
        "evaluations": evaluations, "relevant_entries": result["entries"], "build_seconds": round(build_s, 1),
        "report_seconds": round(report_s, 2), "verify_seconds": round(verify_s, 2),
        "statements": summary["statements"],
        "goal_report_under_10s": report_s < 10, "goal_verify_under_5s": verify_s < 5,
    })


if __name__ == "__main__":
    main()
