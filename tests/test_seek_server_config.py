"""The SeekServer's settings are checked once, by the native server (seek::check_config), and
reach the caller as ValueError naming the setting."""

from __future__ import annotations

import pytest

import qeltrix as qltx


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    d = tmp_path_factory.mktemp("cfg")
    mk = qltx.random_master_key()
    src = d / "plain.bin"
    src.write_bytes(b"x" * 5000)
    out = d / "box.qltx"
    qltx.pack(str(src), str(out), mk, block_size=4096)
    return str(out), mk


@pytest.mark.parametrize("kw,message", [
    (dict(workers=0), "workers must be at least 1"),
    (dict(workers=1025), "workers is above 1024"),
    (dict(max_connections=0), "max_connections must be at least 1"),
    (dict(header_timeout=0), "header_timeout must be in (0, 86400] seconds"),
    (dict(idle_timeout=-1), "idle_timeout must be in (0, 86400] seconds"),
    (dict(send_timeout=float("nan")), "send_timeout must be in (0, 86400] seconds"),
    (dict(stop_timeout=86401), "stop_timeout must be in (0, 86400] seconds"),
    (dict(token=""), "the token must be non-empty and hold no CR, LF or NUL"),
    (dict(token="a\r\nX-Injected: 1"), "the token must be non-empty and hold no CR, LF or NUL"),
    (dict(token="a\0b"), "the token must be non-empty and hold no CR, LF or NUL"),
    (dict(readahead_blocks=-1), "readahead_blocks must be non-negative"),
])
def test_bad_settings_are_value_errors(box, kw, message):
    path, mk = box
    with pytest.raises(ValueError) as e:
        qltx.SeekServer(path, mk, port=0, **kw)
    assert str(e.value) == message


def test_tiny_timeouts_round_up_to_a_millisecond(box):
    path, mk = box
    with qltx.SeekServer(path, mk, port=0, header_timeout=0.0001, token="t") as srv:
        assert srv.port > 0
