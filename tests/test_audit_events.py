"""Every open and seal ends in one audit event on the ``gpay_envelope.audit`` logger: which of
our keys decrypted, which sender keys verified, the outcome, size and duration; nothing
secret; and nothing at all (not even the event) while nobody listens."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest

import gpay_envelope as ge
from gpay_envelope import _observe
from gpay_envelope.observe import AuditEvent, AuditJSONFormatter, add_sink, remove_sink

PAYLOAD = b'{"pan":"4111111111111111","cvc":"987","holder":"Ada Lovelace"}'


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger=_observe.AUDIT_LOGGER)
    yield caplog


def _events(caplog: pytest.LogCaptureFixture) -> list[AuditEvent]:
    records = [r for r in caplog.records if r.name == _observe.AUDIT_LOGGER]
    assert all(r.levelno == logging.INFO for r in records)
    return [r.gpay_audit for r in records]  # type: ignore[attr-defined]


def _jwe_envelope(partner, google) -> bytes:
    return ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")


def test_a_jwe_seal_and_open_each_log_one_event(audit, partner, google) -> None:
    env = _jwe_envelope(partner, google)
    assert ge.open(env, identities=google.identities, senders=partner.public_sig) == PAYLOAD
    seal, opened = _events(audit)
    assert (seal.operation, seal.codec, seal.outcome, seal.error) == ("seal", "jwe", "ok", None)
    assert seal.profile == "signed"
    assert seal.recipients == ("google-enc-1",) and seal.signers == ("partner-sig-1",)
    assert seal.size == len(env) and seal.decrypted_with is None
    assert (opened.operation, opened.codec, opened.outcome) == ("open", "jwe", "ok")
    assert opened.decrypted_with == "google-enc-1"
    assert opened.verified_by == ("partner-sig-1",)
    assert opened.algorithms == ("RSA-OAEP-256", "A256GCM", "RS256")
    assert opened.size == len(env) and opened.recipients == () and opened.profile is None
    assert 0 < opened.duration < 60 and opened.at > 1.7e9


def test_a_rotated_key_is_named_as_the_one_that_decrypted(audit, partner, google) -> None:
    # Sealed to google's second key, as a peer still on the old key would.
    second = ge.KeySet(list(google.public_enc), primary="google-enc-2")
    env = ge.seal(PAYLOAD, recipients=second, signer=partner.signer, codec="jwe")
    ge.open(env, identities=google.identities, senders=partner.public_sig)
    assert _events(audit)[-1].decrypted_with == "google-enc-2"


def test_a_bad_signature_still_names_the_key_that_decrypted(audit, partner, google) -> None:
    env = _jwe_envelope(partner, google)
    with pytest.raises(ge.InvalidSignature) as info:
        ge.open(env, identities=google.identities, senders=google.public_sig)
    # The error contract is unchanged: a fresh exception, nothing chained.
    assert info.value.__context__ is None and info.value.__cause__ is None
    (event,) = [e for e in _events(audit) if e.operation == "open"]
    assert (event.outcome, event.error) == ("invalid_signature", "InvalidSignature")
    assert event.decrypted_with == "google-enc-1" and event.verified_by == ()
    assert event.algorithms == ()


def test_an_invalid_envelope_names_no_key(audit, google, partner) -> None:
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(b"not.an.envelope.at.all", identities=google.identities, senders=None,
                allow_unsigned=True)
    assert info.value.__context__ is None
    (event,) = _events(audit)
    assert (event.outcome, event.error, event.codec) == ("invalid", "InvalidEnvelope", "jwe")
    assert event.decrypted_with is None and event.size == len(b"not.an.envelope.at.all")


def test_a_usage_error_is_logged_by_type_and_never_by_message(audit, partner) -> None:
    with pytest.raises(TypeError, match="plaintext must be bytes"):
        ge.seal("4111111111111111", recipients=partner.public_enc, signer=partner.signer)  # type: ignore[arg-type]
    (record,) = audit.records
    event = record.gpay_audit  # type: ignore[attr-defined]
    assert (event.operation, event.outcome, event.error, event.codec) == (
        "seal", "error", "TypeError", None,
    )
    assert "4111" not in record.getMessage() and "must be bytes" not in record.getMessage()


def test_an_open_of_any_bytes_like_envelope_records_its_size_in_bytes(
    audit, partner, google
) -> None:
    env = _jwe_envelope(partner, google)
    # Trailing spaces still open and make whole 4-byte items, of which len() counts a quarter.
    padded = env + b" " * (-len(env) % 4 or 4)
    for envelope in (bytearray(env), memoryview(env), memoryview(padded).cast("I")):
        assert ge.open(envelope, identities=google.identities, senders=partner.public_sig) == (
            PAYLOAD
        )
    assert [e.size for e in _events(audit)[1:]] == [len(env), len(env), len(padded)]


def test_a_refused_seal_is_an_error_of_its_codec(audit, partner, google) -> None:
    with pytest.raises(ge.SealError):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe",
                limits=ge.Limits(max_plaintext=16))
    (event,) = _events(audit)
    assert (event.outcome, event.error, event.codec) == ("error", "SealError", "jwe")
    assert event.size is None


def test_pgp_names_the_identity_and_every_sender_that_verified(audit, pgp_keys) -> None:
    env = ge.seal(
        PAYLOAD, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1", "p2"), codec="pgp"
    )
    ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1", "p2"))
    seal, opened = _events(audit)
    assert seal.signers == (pgp_keys.kid("p1"), pgp_keys.kid("p2"))
    assert seal.profile == "default" and seal.recipients == (pgp_keys.kid("g1"),)
    assert opened.decrypted_with == pgp_keys.kid("g1")
    assert opened.verified_by == (pgp_keys.kid("p1"), pgp_keys.kid("p2"))
    assert opened.algorithms[:2] == ("RSA", "AES256")


def test_an_unsigned_open_names_no_sender(audit, partner, google) -> None:
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=None, allow_unsigned=True,
                  codec="jwe", profile="legacy")
    ge.open(env, identities=google.identities, senders=None, allow_unsigned=True)
    event = _events(audit)[-1]
    assert event.outcome == "ok" and event.verified_by == ()
    assert event.decrypted_with == "google-enc-1"


def test_nothing_is_observed_while_nobody_listens(caplog, partner, google) -> None:
    caplog.set_level(logging.WARNING, logger=_observe.AUDIT_LOGGER)
    assert _observe.watch() is None
    env = _jwe_envelope(partner, google)
    ge.open(env, identities=google.identities, senders=partner.public_sig)
    assert [r for r in caplog.records if r.name == _observe.AUDIT_LOGGER] == []


def test_a_sink_sees_events_with_the_logger_off_and_its_failure_stays_its_own(
    caplog, partner, google
) -> None:
    caplog.set_level(logging.WARNING, logger=_observe.AUDIT_LOGGER)
    seen: list[AuditEvent] = []

    def broken(event: AuditEvent) -> None:
        raise RuntimeError("sink down")

    add_sink(seen.append)
    add_sink(broken)
    add_sink(seen.append)  # added once only
    try:
        assert _observe.watch() is not None
        env = _jwe_envelope(partner, google)
        assert ge.open(env, identities=google.identities, senders=partner.public_sig) == PAYLOAD
    finally:
        remove_sink(seen.append)
        remove_sink(broken)
    assert [e.operation for e in seen] == ["seal", "open"]
    assert [r.getMessage() for r in caplog.records] == ["an audit sink failed"] * 2
    assert _observe.watch() is None


def _secrets(*keys: ge.Key) -> list[str]:
    """The payload in the encodings a log could carry it in, and every private JWK member."""
    out = [
        PAYLOAD.decode(),
        "4111111111111111",
        PAYLOAD.hex(),
        base64.b64encode(PAYLOAD).decode()[:40],
        base64.urlsafe_b64encode(PAYLOAD).decode().rstrip("=")[:40],
    ]
    for key in keys:
        jwk = key.to_jwk(include_private=True)
        out += [jwk[m][:40] for m in ("d", "p", "q", "dp", "dq", "qi")]
    return out


def _pgp_secrets(*keys: ge.Key) -> list[str]:
    out = []
    for key in keys:
        armored = key.to_pgp(include_private=True)
        lines = [ln for ln in armored.splitlines() if len(ln) > 40]
        out += [ln.decode() for ln in lines[1:-1]]
    return out


def test_no_record_carries_a_payload_or_key_material(audit, partner, google, pgp_keys) -> None:
    env = _jwe_envelope(partner, google)
    ge.open(env, identities=google.identities, senders=partner.public_sig)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=google.public_sig)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env[:-8] + b"AAAAAAAA", identities=google.identities, senders=partner.public_sig)
    pgp_env = ge.seal(PAYLOAD, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1"))
    ge.open(pgp_env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1"))
    with pytest.raises(ge.InvalidSignature):
        ge.open(pgp_env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("u1"))
    forbidden = _secrets(*google.identities, *partner.signer) + _pgp_secrets(
        pgp_keys.keys["g1"], pgp_keys.keys["p1"]
    )
    records = [r for r in audit.records if r.name == _observe.AUDIT_LOGGER]
    assert len(records) == 7
    formatter = AuditJSONFormatter()
    for record in records:
        texts = [
            record.getMessage(),
            repr(record.args),
            repr(vars(record)),
            formatter.format(record),
            str(record.gpay_audit.as_dict()),  # type: ignore[attr-defined]
        ]
        for text in texts:
            leaked = [s for s in forbidden if s in text]
            assert leaked == [], (record.getMessage(), leaked)


def test_events_built_on_the_fast_path_equal_the_dataclass() -> None:
    values = (
        "open", "jwe", "invalid_signature", "InvalidSignature", "enc-1", ("sig-1", "sig-2"),
        ("RSA-OAEP-256",), "signed", ("r-1",), ("s-1",), 1400, 1.5e-3, 1764780000.5,
    )  # fmt: skip
    fast = _observe._new_event(*values)
    assert fast == AuditEvent(*values)
    assert tuple(fast.as_dict().values()) == tuple(
        list(v) if isinstance(v, tuple) else v for v in values
    )
