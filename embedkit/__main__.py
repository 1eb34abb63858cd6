"""``python -m embedkit``: the same as the ``embedkit`` command."""

from embedkit.cli.main import main

main()
