"""``python -m rfb.server``: the demo server (rfb/cli.py). The library's Server is in
rfb/hosting.py (``rfb.Server``); this module stays as the command's historical name."""

from .cli import main

if __name__ == "__main__":
    main()
