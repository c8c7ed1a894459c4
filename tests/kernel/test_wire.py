"""Signing on the forwarding path: the same signatures as jupyter_client's Session."""

from __future__ import annotations

import pytest
from jupyter_client.session import Session

from beaker_kernel.wire import Frames, InvalidSignature, Signer


@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512", "hmac-md5"])
@pytest.mark.parametrize("key", [b"a-key", b"k" * 200, b""])
def test_the_signer_signs_as_the_session_does(scheme: str, key: bytes) -> None:
    session = Session(key=key, signature_scheme=scheme)
    msg = session.msg("execute_request", {"code": "print('é')" * 50}, metadata={"m": 1})
    raw = session.serialize(msg, ident=[b"client"])
    frames = Frames.split(raw)
    signer = Signer(session)
    assert signer.sign(frames.parts[1:5]) == session.sign(frames.parts[1:5])
    assert frames.resigned(signer) == raw
    frames.verify(signer)


def test_a_wrong_key_or_a_changed_frame_fails_the_check() -> None:
    session = Session(key=b"right")
    raw = session.serialize(session.msg("kernel_info_request", {}))
    with pytest.raises(InvalidSignature):
        Frames.split(raw).verify(Signer(Session(key=b"wrong")))
    changed = Frames.split(raw)
    changed.parts[4] = b'{"x": 1}'
    with pytest.raises(InvalidSignature):
        changed.verify(Signer(session))
    unsigned = Frames.split(raw)
    unsigned.parts[0] = b""
    with pytest.raises(InvalidSignature):
        unsigned.verify(Signer(session))
    # without a key nothing is checked, as jupyter_client does
    Frames.split(raw).verify(Signer(Session(key=b"")))
