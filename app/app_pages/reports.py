"""Reports: exports for regulators and auditors. The evidence bundle is assembled only when it is downloaded."""

import json

import streamlit as st

from app import session

cs = session.service()
user = session.require()

st.title("Reports")
models = [f"{r['name']}@{r['version']}" for r in cs.inventory(user)]
if not models:
    st.info("No models are registered yet.")
    st.stop()
ref = st.selectbox("Model version", models, key="rep_model")
evaluations = cs.evaluations(user, ref)
history = cs.history(user, ref.split("@")[0])
st.write(f"{len(evaluations)} evaluation(s) of {ref}, {len(history['timeline'])} stage change(s) for "
         f"{ref.split('@')[0]}.")


def evidence() -> str:
    """Every record behind the model version, as JSON (runs on download, in its own thread)."""
    bundle = {"model": cs.model(user, ref),
              "evaluations": [cs.evaluation(user, e["id"]) for e in cs.evaluations(user, ref)],
              "history": cs.history(user, ref.split("@")[0]), "waivers": cs.waivers(user, ref),
              "checkpoint": cs.latest_checkpoint()}
    return json.dumps(bundle, indent=2, default=str)


st.download_button("Download evidence (JSON)", evidence, file_name=f"{ref.replace('@', '-')}-evidence.json",
                   mime="application/json", key="rep_download", on_click="ignore")
st.caption("The signed PDF/HTML audit report with an offline-verifiable evidence bundle is produced by "
           "`countersign report` (regulator export).")
