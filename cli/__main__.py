"""``python -m cli`` runs the ``countersign`` command."""

from cli.main import main

main()
