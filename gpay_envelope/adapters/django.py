"""Django middleware: open request envelopes and seal responses, configured from ``settings``.

    # settings.py
    MIDDLEWARE = [
        "gpay_envelope.adapters.django.EnvelopeMiddleware",   # first: outermost
        ...
    ]
    GPAY_ENVELOPE = {
        "IDENTITIES": BASE_DIR / "keys/our-enc.keyset.json",
        "SENDERS": BASE_DIR / "keys/google-sig.keyset.json",
        "SIGNER": BASE_DIR / "keys/our-sig.keyset.json",
        "RECIPIENTS": BASE_DIR / "keys/google-enc.keyset.json",
        "PATHS": ["/echo"],
    }

    # views.py
    @csrf_exempt                                  # Google's calls carry no CSRF token
    def echo(request):
        body = json.loads(request.body)           # the opened, verified plaintext
        return JsonResponse({"echo": body})       # sealed on the way out

``GPAY_ENVELOPE`` takes the names of the shared settings (docs/adapters.md); a missing or
wrong setting raises ``ImproperlyConfigured`` when Django builds its middleware. The rules of
the exchange are the WSGI and ASGI middleware's (``_exchange.py``): the body is read up to
``max_envelope`` bytes (413 beyond), opened (400, 401), shown to the view as
``application/json``, and the view's response, a streaming one too, is sealed with the same
keys. ``paths`` are matched against ``request.path_info``, below ``SCRIPT_NAME``. The middleware
is synchronous; under ASGI Django runs it in a thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from ..codecs import OpenResult
from ._exchange import BodyBuffer, Refused, Rejection, ServerExchange, read_capped
from ._server import PathConfigError, ServerMiddleware
from ._settings import SettingsError, read_settings
from .wsgi import ENVIRON_KEY

__all__ = ["SETTING", "EnvelopeMiddleware", "open_result"]

#: The name of the setting the middleware reads.
SETTING = "GPAY_ENVELOPE"

_CHUNK = 64 * 1024
GetResponse = Callable[[HttpRequest], HttpResponseBase]


def _label(name: str) -> str:
    return f"settings.{SETTING}[{name!r}]"


def open_result(request: HttpRequest) -> OpenResult | None:
    """The `OpenResult` of ``request``, or None on a path the middleware does not protect."""
    result = request.META.get(ENVIRON_KEY)
    return result if isinstance(result, OpenResult) else None


class EnvelopeMiddleware(ServerMiddleware[GetResponse]):
    """Django middleware (``MIDDLEWARE``) that opens request envelopes and seals responses,
    configured from ``settings.GPAY_ENVELOPE``.

    Raises:
        ImproperlyConfigured: ``settings.GPAY_ENVELOPE`` is missing, not a dict, or holds an
            unknown, missing or wrong setting or a ``PATHS`` entry that can never match.
        KeySetError: a manifest does not load.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: GetResponse) -> None:
        values = getattr(django_settings, SETTING, None)
        if not isinstance(values, dict):
            raise ImproperlyConfigured(
                f"settings.{SETTING} must be a dict of the envelope settings "
                "(docs/adapters.md), e.g. {'IDENTITIES': ..., 'SENDERS': ...}"
            )
        try:
            self.settings = read_settings(values, label=_label)
            super().__init__(get_response, **self.settings.middleware_options())
        except (SettingsError, PathConfigError) as exc:
            raise ImproperlyConfigured(str(exc)) from None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not self._protects(request.path_info, str(request.META.get("SCRIPT_NAME", ""))):
            return self.app(request)
        exchange = ServerExchange(self._engine)
        try:
            exchange.declared_length(request.META.get("CONTENT_LENGTH") or None)
            # request.read, not request.body: the cap here is max_envelope, not Django's
            # DATA_UPLOAD_MAX_MEMORY_SIZE (whose 2.5 MiB would refuse a valid envelope).
            body = read_capped(iter(lambda: request.read(_CHUNK), b""), exchange.max_body)
            result, edit = exchange.open_request(body)
        except Refused as refused:
            return _reject(refused.rejection)

        edit.apply_to_environ(request.META)
        request.META[ENVIRON_KEY] = result
        request.content_type, request.content_params = _content_type(request.META)
        # The view reads the plaintext as request.body or request.read(): both read Django's
        # request stream until it is read once, which is how a request gets a new body.
        request._stream = io.BytesIO(result.plaintext)
        request._read_started = False

        response = self.app(request)
        if exchange.passes_untouched(response.status_code):
            return response
        collected = _collect(response, exchange.max_plaintext)
        try:
            envelope, out = exchange.seal_response(
                content_encoding=response.get("Content-Encoding"), body=collected
            )
        except Refused as refused:
            return _reject(refused.rejection)
        sealed = _with_body(response, envelope)
        out.apply_to(sealed.headers)
        return sealed


def _content_type(meta: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The ``content_type`` and ``content_params`` Django derives from ``CONTENT_TYPE``."""
    media, _, params = str(meta.get("CONTENT_TYPE", "")).partition(";")
    pairs = (p.split("=", 1) for p in params.split(";") if "=" in p)
    return media.strip(), {k.strip(): v.strip() for k, v in pairs}


def _reject(rejection: Rejection) -> HttpResponse:
    return HttpResponse(rejection.body, status=rejection.status, headers=dict(rejection.headers))


def _collect(response: HttpResponseBase, cap: int) -> BodyBuffer:
    """The body of ``response``, a streaming one read to its end (and closed)."""
    body = BodyBuffer(cap)
    if getattr(response, "streaming", False):
        try:
            for chunk in response:
                body.add(chunk)
        finally:
            response.close()
    else:
        body.add(response.content)
    return body


def _with_body(response: HttpResponseBase, envelope: bytes) -> HttpResponse:
    """``response`` with ``envelope`` as its body: the same object when it holds its content,
    a new ``HttpResponse`` with its status, headers and cookies when it streamed."""
    if isinstance(response, HttpResponse):
        response.content = envelope
        return response
    sealed = HttpResponse(envelope, status=response.status_code, reason=response.reason_phrase)
    for name, value in response.items():
        sealed.headers[name] = value
    sealed.cookies = response.cookies
    return sealed
