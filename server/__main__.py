"""``python -m mitraseti_server serve|admin ...`` (same commands as ``mitraseti``)."""
import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main())
