"""``python -m gpay_envelope.tls``: the same as ``gpay-envelope tls-check``."""

import sys

from ..cli.tls import tls_check_main

sys.exit(tls_check_main())
