"""``python -m neacovid``: the command line without the entry-point script."""

import sys

from neacovid.cli import main

sys.exit(main())
