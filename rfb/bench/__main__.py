"""``python -m rfb.bench``: runs the command."""

from .cli import main

raise SystemExit(main())
