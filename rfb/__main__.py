"""``python -m rfb``: the demo server, as ``python -m rfb.server`` (see rfb/cli.py)."""

from .cli import main

main()
