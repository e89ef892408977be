"""Flask extension: `GpayEnvelope` puts the WSGI ``EnvelopeMiddleware`` around an application,
configured from ``app.config``.

    from flask import Flask, request
    from gpay_envelope.adapters.flask import GpayEnvelope, open_result

    app = Flask(__name__)
    app.config.update(
        GPAY_ENVELOPE_IDENTITIES="keys/our-enc.keyset.json",
        GPAY_ENVELOPE_SENDERS="keys/google-sig.keyset.json",
        GPAY_ENVELOPE_SIGNER="keys/our-sig.keyset.json",
        GPAY_ENVELOPE_RECIPIENTS="keys/google-enc.keyset.json",
        GPAY_ENVELOPE_PATHS=["/echo"],
    )
    GpayEnvelope(app)                # or: envelope = GpayEnvelope(); envelope.init_app(app)

    @app.post("/echo")
    def echo():
        body = request.get_json()    # the opened, verified plaintext
        return {"echo": body}        # sealed on the way out

The config keys are ``GPAY_ENVELOPE_`` and a name of the shared settings (``KEYS``,
``IDENTITIES``, ``SENDERS``, ``SIGNER``, ``RECIPIENTS``, ``POLL_INTERVAL``, ``PATHS``,
``LIMITS``, ``PROFILE``, ``CONTENT_TYPE``, ``REGISTRY``; docs/adapters.md). They are read once,
in `GpayEnvelope.init_app`; an unknown ``GPAY_ENVELOPE_*`` key is refused, so a typo cannot
leave a route unprotected. Flask's ``app.config.from_prefixed_env()`` reads them from
``FLASK_GPAY_ENVELOPE_*`` environment variables.

The middleware wraps ``app.wsgi_app``, so it runs outside Flask: the 400, 401 and 413
rejections never reach a view, and every response of an opened request is sealed, Flask's
error pages included.
"""

from __future__ import annotations

from flask import Flask, request

from ..codecs import OpenResult
from ._settings import ServerSettings, SettingsError, read_settings
from .wsgi import EnvelopeMiddleware
from .wsgi import open_result as _environ_result

__all__ = ["CONFIG_PREFIX", "EXTENSION_KEY", "GpayEnvelope", "SettingsError", "open_result"]

#: Prefix of the extension's keys in ``app.config``.
CONFIG_PREFIX = "GPAY_ENVELOPE_"
#: Key of the extension's `ServerSettings` in ``app.extensions``.
EXTENSION_KEY = "gpay_envelope"


def _label(name: str) -> str:
    return CONFIG_PREFIX + name


class GpayEnvelope:
    """Opens request envelopes and seals responses for a Flask application, configured from
    its ``app.config`` (the ``GPAY_ENVELOPE_*`` keys).

    Args:
        app: the application; or None, and call `init_app` later (the application factory
            pattern).
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``app.config``, load the manifests it names and wrap ``app.wsgi_app``.

        Raises:
            SettingsError: a ``GPAY_ENVELOPE_*`` key is unknown, missing or of the wrong kind.
            KeySetError: a manifest does not load.
            PathConfigError: a ``GPAY_ENVELOPE_PATHS`` entry can never match.
            RuntimeError: the extension was already set up on ``app``.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("GpayEnvelope is already set up on this application")
        values = {
            key[len(CONFIG_PREFIX) :]: value
            for key, value in app.config.items()
            if key.startswith(CONFIG_PREFIX)
        }
        settings = read_settings(values, label=_label)
        # Flask's documented way to add WSGI middleware.
        app.wsgi_app = EnvelopeMiddleware(  # type: ignore[method-assign]
            app.wsgi_app, **settings.middleware_options()
        )
        app.extensions[EXTENSION_KEY] = settings

    @staticmethod
    def settings(app: Flask) -> ServerSettings:
        """The settings `init_app` read for ``app`` (its key provider and watchers)."""
        settings = app.extensions.get(EXTENSION_KEY)
        if not isinstance(settings, ServerSettings):
            raise RuntimeError("GpayEnvelope is not set up on this application")
        return settings


def open_result() -> OpenResult | None:
    """The `OpenResult` of the current request (which of your keys decrypted it, which of the
    peer's keys signed it), or None on a path the extension does not protect."""
    return _environ_result(request.environ)
