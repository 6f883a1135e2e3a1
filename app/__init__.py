"""Streamlit front end of Countersign: layout only; every action goes through :mod:`core.api.countersign`."""
