"""``python -m mitraseti_server serve|admin ...`` (same commands as ``mitraseti``)."""
import sys

from mitraseti_server.commands import main

if __name__ == "__main__":
    sys.exit(main())
