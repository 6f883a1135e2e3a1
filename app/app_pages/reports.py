"""Reports: exports for regulators and auditors. The evidence bundle is assembled only when it is downloaded.

``/reports?model=name@version`` opens the page on that model version (the router seeds the select box; see
:mod:`app.links`), and the address bar follows the select box."""

import json

import streamlit as st

from app import links, session
from app.text import error_text, literal

cs = session.service()
user = session.require()

st.title("Reports")
models = [f"{r['name']}@{r['version']}" for r in cs.inventory(user)]
if not models:
    st.info("No models are registered yet.")
    st.stop()
asked = st.session_state.get("rep_model")
if asked is not None and asked not in models:  # a permalink to a version that does not exist (or not any more)
    links.unknown("model version", asked, models[0])
    del st.session_state["rep_model"]
ref = st.selectbox("Model version", models, key="rep_model")
links.keep("model", ref, "reports")
if (st.session_state.get("rep_zip") or (None, None, None, None, None))[-1] not in (ref, ref.split("@")[0]):
    st.session_state.pop("rep_zip", None)  # an export made for another model version
evaluations = cs.evaluations(user, ref)
history = cs.history(user, ref.split("@")[0])
st.write(f"{len(evaluations)} evaluation(s) of {literal(ref)}, {len(history['timeline'])} stage change(s) for "
         f"{literal(ref.split('@')[0])}.")


def evidence() -> str:
    """Every record behind the model version, as JSON (runs on download, in its own thread)."""
    bundle = {"model": cs.model(user, ref),
              "evaluations": [cs.evaluation(user, e["id"]) for e in cs.evaluations(user, ref)],
              "history": cs.history(user, ref.split("@")[0]), "waivers": cs.waivers(user, ref),
              "checkpoint": cs.latest_checkpoint()}
    return json.dumps(bundle, indent=2, default=str)


st.download_button("Download evidence (JSON)", evidence, file_name=f"{ref.replace('@', '-')}-evidence.json",
                   mime="application/json", key="rep_download", on_click="ignore")
st.subheader("Regulator export")
st.caption("report.pdf, report.html, the evidence bundle (ledger entries with inclusion proofs against a fresh signed "
           "checkpoint, signed statements, verifier keys) and verify.py — the same as `countersign report`. "
           "Generating it is a ledger event.")
scope = st.radio("Scope", [ref, ref.split("@")[0] + " (all versions)"], horizontal=True, key="rep_scope",
                 format_func=literal)
if st.button("Generate regulator export", type="primary", key="rep_generate"):
    import tempfile
    from pathlib import Path

    from core.errors import CountersignError
    from core.evidence.report import export_zip

    target = ref if scope == ref else ref.split("@")[0]
    with st.spinner("Building the report and its evidence bundle…"), tempfile.TemporaryDirectory() as tmp:
        try:
            result = cs.report(user, target, out=Path(tmp) / "export")
        except CountersignError as exc:
            st.error(error_text(exc))
        else:
            folder = f"{target.replace('@', '-')}-regulator-export"  # the zip's one top-level folder
            st.session_state["rep_zip"] = (f"{folder}.zip", export_zip(Path(tmp) / "export", folder),
                                           result["entries"], result["statements"], target)
if export := st.session_state.get("rep_zip"):
    name, data, entries, statements, target = export
    st.success(f"Export ready for {literal(target)}: {entries} ledger entries with inclusion proofs, {statements} "
               "signed statements. "
               "Verify it with an independent verifier: `countersign verify-bundle DIR`, or the verify.py of a "
               "Countersign release whose SHA-256 you know (the bundled copy could be swapped).")
    st.download_button("Download regulator export (zip)", data, file_name=name, mime="application/zip",
                       key="rep_zip_download")
