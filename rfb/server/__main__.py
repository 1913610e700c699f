"""``python -m rfb.server``: the demo server (rfb/cli.py), as ``rfb`` and ``python -m rfb``.
The library's Server class is ``rfb.Server`` (rfb/server/__init__.py)."""

from ..cli import main

main()
