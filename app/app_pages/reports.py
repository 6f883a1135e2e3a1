"""Reports: exports for regulators and auditors."""

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
model = cs.model(user, ref)
evaluations = [cs.evaluation(user, e["id"]) for e in cs.evaluations(user, ref)]
history = cs.history(user, ref.split("@")[0])
bundle = {"model": model, "evaluations": evaluations, "history": history,
          "waivers": cs.waivers(user, ref), "checkpoint": cs.latest_checkpoint()}
st.write(f"{len(evaluations)} evaluation(s), {len(history['timeline'])} stage change(s) for {ref.split('@')[0]}.")
st.download_button("Download evidence (JSON)", json.dumps(bundle, indent=2, default=str),
                   file_name=f"{ref.replace('@', '-')}-evidence.json", mime="application/json", key="rep_download")
st.caption("The signed PDF/HTML audit report with an offline-verifiable evidence bundle is produced by "
           "`countersign report` (regulator export).")
