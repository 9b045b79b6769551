"""``python -m parvis`` runs the CLI."""

from parvis.cli import main

main()
