"""Fixtures for the bundle tests (unit and adversarial): the fixed TEST keys and shortcuts for
sealing and opening. Each bundle test folder's ``conftest.py`` re-exports them; the module name is
unique, so it imports the same from any folder (``tests/`` is on ``sys.path`` under pytest).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from dvnet.bundle import BundleError, open_bundle, seal
from dvnet.bundle.make_vectors import AGENCY_KEY, COORDINATOR_KEY, OPEN_AT, SEALED_AT, _fixed_rng

#: A marker that must never appear in an error message, a report or output.
MARKER = b"PLAINTEXT-MARKER-7f3a"
DATA = MARKER + b" test rows\n" * 8


def _seal_kwargs(**overrides: object) -> dict[str, object]:
    kwargs: dict[str, object] = dict(
        agency_id="shelter-north",
        contract_id="referral",
        contract_version=1,
        mode="aggregate",
        sequence=1,
        period="2026-Q3",
        record_count=8,
        signing_key=AGENCY_KEY,
        recipient_public_key=COORDINATOR_KEY.public_key(),
        now=SEALED_AT,
        rng=_fixed_rng("tests"),
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def seal_kwargs():
    """seal_kwargs(**overrides) -> a dict of valid seal() keyword arguments."""
    return _seal_kwargs


@pytest.fixture
def data() -> bytes:
    return DATA


@pytest.fixture
def marker() -> bytes:
    return MARKER


@pytest.fixture
def make_bundle():
    """make_bundle(data=DATA, **seal overrides) -> SealedBundle."""

    def _make(data: bytes = DATA, **overrides: object):
        return seal(data, **_seal_kwargs(**overrides))

    return _make


@pytest.fixture
def open_at() -> datetime:
    """The opening time: two minutes after the default sealing time."""
    return OPEN_AT


@pytest.fixture
def agency_key():
    return AGENCY_KEY


@pytest.fixture
def coordinator_key():
    return COORDINATOR_KEY


@pytest.fixture
def open_default():
    """open_default(blob, **overrides) -> OpenedBundle, with the TEST keys and opening time."""

    def _open(blob, **overrides):
        kwargs = dict(
            signing_public_key=AGENCY_KEY.public_key(), recipient_private_key=COORDINATOR_KEY, now=OPEN_AT
        )
        kwargs.update(overrides)
        return open_bundle(blob, **kwargs)

    return _open


@pytest.fixture
def reason_of():
    """reason_of(call, *args, **kwargs) -> "success" or the BundleError reason raised."""

    def _reason_of(call, *args, **kwargs) -> str:
        try:
            call(*args, **kwargs)
        except BundleError as error:
            return error.reason
        return "success"

    return _reason_of
