"""The open errors: one fixed message each, and they survive pickling."""

from __future__ import annotations

import pickle

import gpay_envelope as ge


def test_open_errors_pickle_round_trip() -> None:
    for cls in (ge.InvalidEnvelope, ge.InvalidSignature):
        again = pickle.loads(pickle.dumps(cls()))
        assert type(again) is cls and str(again) == cls.MESSAGE
