"""``python -m webbcal``: the ``webbcal`` command."""
import sys

from .cli import main

sys.exit(main())
