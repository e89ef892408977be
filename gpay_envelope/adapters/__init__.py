"""Optional web-stack adapters: server middleware and HTTP clients that seal and open envelopes.

Each adapter lives in its own module and imports its framework there, so this package and
``import gpay_envelope`` need none:

==========================================  ==============================  =================
module                                      gives                           extra
==========================================  ==============================  =================
``gpay_envelope.adapters.asgi``             ``EnvelopeMiddleware`` (ASGI 3) ``asgi`` (no deps)
``gpay_envelope.adapters.wsgi``             ``EnvelopeMiddleware`` (WSGI)   ``wsgi`` (no deps)
``gpay_envelope.adapters.httpx``            ``EnvelopeTransport``,          ``httpx``
                                            ``AsyncEnvelopeTransport``
``gpay_envelope.adapters.requests``         ``EnvelopeAdapter``             ``requests``
``gpay_envelope.adapters.fastapi``          ``envelope_route``,             ``fastapi``
                                            ``OpenedEnvelope``
``gpay_envelope.adapters.flask``            ``GpayEnvelope`` (extension)    ``flask``
``gpay_envelope.adapters.django``           ``EnvelopeMiddleware``          ``django``
==========================================  ==============================  =================

All of them take their keys from a *key provider*: a fixed `Keys` bundle, or a zero-argument
callable returning the current one, such as a `KeyHolder`. The provider is read once per
request, so one exchange never mixes two generations of keys, and rotating is
``holder.set(new_keys)`` at run time. The middlewares' ``paths`` are matched as the wrapped
application routes them, below any mount point; an entry they cannot match as written raises
`PathConfigError`. The framework glue is built on the ASGI and WSGI middleware and the same
exchange; the Flask and Django glue read their settings (`SettingsError` when one is wrong)
and follow keyset manifests. See docs/adapters.md.
"""

from __future__ import annotations

from ._common import KeyHolder, KeyProvider, Keys
from ._exchange import CONTENT_TYPES, envelope_content_type
from ._server import PathConfigError
from ._settings import SettingsError

__all__ = [
    "CONTENT_TYPES",
    "KeyHolder",
    "KeyProvider",
    "Keys",
    "PathConfigError",
    "SettingsError",
    "envelope_content_type",
]
