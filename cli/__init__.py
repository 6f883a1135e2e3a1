"""The ``countersign`` command line: a thin shell over :mod:`core.service`."""
