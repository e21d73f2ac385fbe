"""``python -m runtime.cli``: the ``units`` command."""

import sys

from runtime.cli import main

sys.exit(main())
