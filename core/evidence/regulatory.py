"""The regulatory index: where each item of a Countersign report answers which regulation.

Sources: EU AI Act (Regulation (EU) 2024/1689) Articles 9-15, 17, 72 and Annex IV points 1-9; US Federal Reserve
SR 11-7 (model development, validation, governance, inventory); NIST AI RMF 1.0 subcategories; ISO/IEC 42001:2023
Annex A controls A.6.2.6-A.6.2.8.
"""

from __future__ import annotations

#: report section -> requirements it provides evidence for
INDEX: dict[str, list[str]] = {
    "Inventory entry": ["EU AI Act Art. 11, Annex IV 1(a)-(c)", "EU AI Act Art. 49 (registration)",
                        "SR 11-7 governance: model inventory", "NIST AI RMF GOVERN 1.6", "ISO/IEC 42001 A.6.2.6"],
    "Model card": ["EU AI Act Art. 11 and Annex IV 1-2", "EU AI Act Art. 13 (transparency, instructions for use)",
                   "SR 11-7 development: documentation", "NIST AI RMF MAP 2.1, MAP 2.2", "ISO/IEC 42001 A.6.2.7"],
    "Lineage and data": ["EU AI Act Art. 10 (data and data governance)", "EU AI Act Annex IV 2(d)",
                         "SR 11-7 development: data quality", "NIST AI RMF MAP 4.1, MEASURE 2.1"],
    "Evaluations": ["EU AI Act Art. 9(6)-(8) (testing)", "EU AI Act Art. 15 (accuracy, robustness)",
                    "EU AI Act Annex IV 4 (metrics), 6 (validation and testing)",
                    "SR 11-7 validation: outcomes analysis",
                    "NIST AI RMF MEASURE 2.3, MEASURE 2.5", "ISO/IEC 42001 A.6.2.4"],
    "Fairness": ["EU AI Act Art. 10(2)(f)-(g) (bias examination)", "NIST AI RMF MEASURE 2.11",
                 "SR 11-7 validation: conceptual soundness"],
    "Drift and monitoring": ["EU AI Act Art. 72 (post-market monitoring)", "EU AI Act Annex IV 9",
                             "SR 11-7 validation: ongoing monitoring", "NIST AI RMF MEASURE 2.4, MANAGE 4.1"],
    "Explanations": ["EU AI Act Art. 13(3)(b)", "NIST AI RMF MEASURE 2.9"],
    "Approvals": ["EU AI Act Art. 17 (quality management: approval procedures)", "EU AI Act Art. 14 (oversight)",
                  "SR 11-7 governance: independent review", "NIST AI RMF GOVERN 2.1, GOVERN 4.1",
                  "ISO/IEC 42001 A.6.2.5"],
    "Waivers": ["EU AI Act Art. 9(5) (residual risk acceptance)", "SR 11-7 governance: exceptions",
                "NIST AI RMF MANAGE 1.3"],
    "Suspensions": ["EU AI Act Art. 14(4)(e) (stop)", "EU AI Act Art. 20 (corrective actions)",
                    "NIST AI RMF MANAGE 2.4"],
    "Production history": ["EU AI Act Art. 12 (record-keeping)", "EU AI Act Annex IV 6",
                           "SR 11-7 governance: inventory of versions in use", "ISO/IEC 42001 A.6.2.8"],
    "Ledger integrity": ["EU AI Act Art. 12 (automatic logging)", "EU AI Act Art. 19 (logs kept)",
                         "NIST AI RMF GOVERN 1.5", "ISO/IEC 42001 A.6.2.8"],
    "Risk management": ["EU AI Act Art. 9 (risk management system)", "EU AI Act Annex IV 5",
                        "SR 11-7 governance: policies", "NIST AI RMF GOVERN 1.1-1.4"],
}
