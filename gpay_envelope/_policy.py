"""Google's key rules, defined once: RSA sizes, key lifetimes, OpenPGP key flags.

The loaders (both codecs), the key generators, the keystore checks and the CLI all read these
names; none of them writes a number of its own. docs/security.md explains where each rule
comes from.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

__all__ = [
    "DEFAULT_LIFETIME",
    "DEFAULT_RSA_BITS",
    "FLAG_CERTIFY",
    "FLAG_ENCRYPT",
    "FLAG_SIGN",
    "GENERATE_RSA_BITS",
    "MAX_LIFETIME",
    "MAX_LIFETIME_DAYS",
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "ONE_YEAR",
]

#: Smallest RSA modulus accepted anywhere, for any use.
MIN_RSA_BITS: Final = 2048
#: Largest RSA modulus accepted (a bound on the cost of one private-key operation).
MAX_RSA_BITS: Final = 8192
#: Sizes the generators offer, and the one they pick by default.
GENERATE_RSA_BITS: Final = (2048, 3072, 4096)
DEFAULT_RSA_BITS: Final = 3072

#: Keys "expire in one year": the lifetime generators give by default.
DEFAULT_LIFETIME: Final = timedelta(days=365)
#: One year with a leap day of slack: a longer lifetime is warned about.
ONE_YEAR: Final = timedelta(days=366)
#: The "maximum lifetime of two years" (with a leap day of slack): a longer one is refused.
MAX_LIFETIME: Final = timedelta(days=731)
#: The most days a command-line user may ask a new key to live (two years of 365 days).
MAX_LIFETIME_DAYS: Final = 730

#: OpenPGP key flags (RFC 4880 section 5.2.3.21) that decide what a key part may do.
FLAG_CERTIFY: Final = 0x01
FLAG_SIGN: Final = 0x02
#: "Encrypt communications" and "encrypt storage": either makes a part an encryption key.
FLAG_ENCRYPT: Final = 0x04 | 0x08

