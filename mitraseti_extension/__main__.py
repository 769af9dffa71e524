"""``python -m mitraseti_extension enable|status`` (see :mod:`mitraseti_extension.enable`)."""
import sys

from mitraseti_extension.enable import main

sys.exit(main())
