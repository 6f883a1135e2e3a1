"""``python -m cli`` runs the ``countersign`` command."""

from cli.entry import main

main()
