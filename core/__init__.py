"""Countersign core: all domain logic of the model-governance service.

Nothing in this package imports Streamlit; the app (``app/``) and the command line (``cli/``) are thin shells
over the public API exposed by :mod:`core.api.countersign`.
"""

__version__ = "0.1.0"
