"""The ``countersign`` command line: a thin shell over :mod:`core.api.countersign`."""
