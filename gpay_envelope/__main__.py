"""``python -m gpay_envelope``: the same as the ``gpay-envelope`` command."""

import sys

from .cli import main

sys.exit(main())
