"""The sans-IO HTTP request parser, Range parser and response planner of the native core.

Tables of good and bad inputs, each fed whole, one byte at a time and with trailing bytes (as
h11's ``tr()``), with hypothesis choosing split points. The Range expectations are nginx 1.22's
observed answers (shared/reference/http-range-anchors.md) except the deliberate differences
marked DEVIATION, each allowed by RFC 9110.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tables
from qeltrix import _core

N = 3_000_000


def parse(data: bytes, **limits):
    return _core._http_parse_request(data, **limits)


def tr(data: bytes, **limits):
    """Parse ``data`` whole, byte at a time and with trailing bytes; all must agree. Returns the
    whole-input result."""
    whole = parse(data, **limits)
    if whole[0] == "request":
        consumed = whole[1]["consumed"]
        assert consumed == len(data)
        for k in range(len(data)):  # every strict prefix needs more
            assert parse(data[:k], **limits) == ("need_more",), k
        for tail in (b"G", b"GET / HTTP/1.1\r\n", b"\r\n\r\n", b"garbage\x00"):
            assert parse(data + tail, **limits) == whole
    elif whole[0] == "error":
        for k in range(len(data)):  # a prefix needs more, or already shows the same error
            r = parse(data[:k], **limits)
            assert r == ("need_more",) or r == whole, (k, r)
        assert parse(data + b"\r\n\r\nGET / HTTP/1.1\r\n", **limits) == whole
    else:
        for k in range(len(data)):
            assert parse(data[:k], **limits) == ("need_more",)
    return whole


def ok(data: bytes, **limits) -> dict:
    r = tr(data, **limits)
    assert r[0] == "request", r
    return r[1]


def err(data: bytes, **limits) -> int:
    r = tr(data, **limits)
    assert r[0] == "error", r
    return r[2] and r[1]


# ---- request parser: good inputs ----------------------------------------------------------------

# (method, target, version, keep-alive): tests/tables/http_requests.txt, also run under Wine
GOOD = [(data, method, tables.unescape(target), int(version), keep == "keep")
        for method, target, version, keep, data in tables.records("http_requests.txt", "request", 4)]


@pytest.mark.parametrize("data,method,target,version,keep_alive", GOOD)
def test_good_requests(data, method, target, version, keep_alive):
    r = ok(data)
    assert (r["method"], r["target"], r["version"], r["keep_alive"]) == (method, target, version, keep_alive)


def test_headers_are_lowercased_and_trimmed():
    r = ok(b"GET / HTTP/1.1\r\nHOST:  a \r\nRange:\tbytes=0-1\t\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    assert r["headers"] == [("host", b"a"), ("range", b"bytes=0-1"), ("x-a", b"1"), ("x-a", b"2")]


def test_body_is_consumed():
    r = ok(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
    assert r["body_length"] == 5 and r["consumed"] == 51


def test_pipelined_requests_parse_one_at_a_time():
    one = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    two = b"HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
    r = parse(one + two)
    assert r[0] == "request" and r[1]["consumed"] == len(one)
    r2 = parse((one + two)[r[1]["consumed"]:])
    assert r2[1]["target"] == b"/2"


# ---- request parser: bad inputs -----------------------------------------------------------------

# (status): tests/tables/http_requests.txt
BAD = [(data, int(status)) for status, data in tables.records("http_requests.txt", "reject", 1)]


@pytest.mark.parametrize("data,status", BAD)
def test_bad_requests(data, status):
    assert err(data) == status


def test_request_line_limit_is_414():
    line = b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n"
    assert ok(line + b"Host: a\r\n\r\n")["target"] == b"/" + b"a" * 8000
    long = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert parse(long)[:2] == ("error", 414)
    assert parse(long[:8300])[:2] == ("error", 414)  # known before the line ends
    assert parse(long[:8100]) == ("need_more",)


def test_header_limits_are_400_as_nginx():
    head = b"GET / HTTP/1.1\r\nHost: a\r\n"
    assert parse(head + b"X-A: " + b"b" * 9000 + b"\r\n\r\n")[:2] == ("error", 400)
    assert parse(head + b"X-A: " + b"b" * 9000)[:2] == ("error", 400)  # partial line
    five = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 7000) for i in range(5))
    assert parse(head + five + b"\r\n")[:2] == ("error", 400)
    four = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 7000) for i in range(4))
    assert parse(head + four + b"\r\n")[0] == "request"
    assert parse(head + b"X: 1\r\n" * 10, max_header_bytes=40)[:2] == ("error", 400)


def test_incomplete_body_needs_more():
    data = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
    assert parse(data) == ("need_more",)


REQUESTS = [g[0] for g in GOOD] + [b[0] for b in BAD]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REQUESTS), st.lists(st.integers(0, 200), max_size=4), st.binary(max_size=20))
def test_split_points_do_not_matter(data, cuts, tail):
    """Fed in pieces (the caller appends and re-parses), the result only depends on the bytes."""
    whole = parse(data)
    buf = b""
    prev = 0
    for c in sorted(set(min(c, len(data)) for c in cuts)) + [len(data)]:
        buf += data[prev:c]
        prev = c
        r = parse(buf)
        if c < len(data):
            assert r == ("need_more",) or (r[0] == "error" and r == whole)
    assert parse(buf) == whole
    if whole[0] == "request":
        assert parse(buf + tail) == whole


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data):
    r = parse(data, max_request_line=64, max_header_line=64, max_header_bytes=128, max_body=16)
    assert r[0] in ("need_more", "error", "request")
    if r[0] == "request":
        assert 0 < r[1]["consumed"] <= len(data)
    if r[0] == "error":
        assert r[1] in (400, 413, 414, 501, 505)


# ---- Range parser -------------------------------------------------------------------------------

LAST = N - 1
# nginx 1.22.1's answers but the marked DEVIATIONs: tests/tables/http_ranges.txt
RANGES = [(value.decode(), kind, tables.ranges_field(ranges))
          for size, kind, ranges, value in tables.records("http_ranges.txt", "range", 3) if int(size) == N]


@pytest.mark.parametrize("value,kind,ranges", RANGES)
def test_range_table(value, kind, ranges):
    assert _core._http_parse_range(value, N) == (kind, ranges)


def test_range_on_an_empty_resource():
    for v in ("bytes=0-", "bytes=0-5", "bytes=-5"):
        assert _core._http_parse_range(v, 0) == ("ignore", [])  # nginx: 200, CL 0
    assert _core._http_parse_range("bytes=5-", 0) == ("unsatisfiable", [])


def test_range_limits_are_settable():
    v = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(40))
    assert _core._http_parse_range(v, N, max_ranges=0)[0] == "ranges"  # 0: no cap
    assert _core._http_parse_range(v, N, max_ranges=39)[0] == "ignore"
    assert _core._http_parse_range("bytes=0-9,0-9,0-9,0-9", N, max_overlaps=3)[0] == "ranges"


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 2**70)),
                          st.one_of(st.none(), st.integers(0, 2**70))), min_size=1, max_size=5),
       st.integers(0, 2**64 - 1))
def test_range_model(specs, size):
    """Against a Python model of the rules (nginx's, with saturation and our limits)."""
    parts = []
    for a, b in specs:
        if a is None and b is None:
            parts.append("")
        elif a is None:
            parts.append(f"-{b}")
        elif b is None:
            parts.append(f"{a}-")
        else:
            parts.append(f"{a}-{b}")
    value = "bytes=" + ",".join(parts)
    kind, got = _core._http_parse_range(value, size, max_ranges=0, max_overlaps=10**6)
    cap = 2**63 - 1
    want, declined = [], False
    for a, b in specs:
        if a is None and b is None:
            continue
        if a is None:
            s, e = (size - min(b, cap) if min(b, cap) < size else 0), size
        else:
            s = min(a, cap)
            e = size if b is None else (size if min(b, cap) >= size else min(b, cap) + 1)
        if s < e:
            want.append((s, e - 1))
        elif s == 0:
            declined = True
            break
    if declined or len(value) < 7:
        assert kind == "ignore"
    elif not want:
        assert kind == "unsatisfiable"
    elif sum(e - s + 1 for s, e in want) > size:
        assert kind == "ignore"
    else:
        assert (kind, got) == ("ranges", want)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="bytes=0123456789-, \t;xB", max_size=40), st.integers(0, 2**64 - 1))
def test_range_arbitrary_text(value, size):
    kind, got = _core._http_parse_range(value, size)
    assert kind in ("ignore", "unsatisfiable", "ranges")
    for s, e in got:
        assert 0 <= s <= e < size
    assert len(got) <= 16


# ---- planner: preconditions and responses -------------------------------------------------------

ETAG = '"abc-123"'
LM = 1_700_000_000
LM_TEXT = _core._http_format_date(LM)


def plan(method="GET", size=N, **headers):
    hs = [(k.replace("_", "-"), v) for k, v in headers.items()]
    return _core._http_plan(method, hs, size, ETAG, LM, "video/mp4", "BOUNDARY")


def fields(p):
    return dict(p["fields"])


def test_plan_200():
    p = plan()
    assert p["status"] == 200 and p["ranges"] == [(0, N - 1)] and p["content_length"] == N
    f = fields(p)
    assert f["Content-Length"] == str(N) and f["Accept-Ranges"] == "bytes"
    assert f["ETag"] == ETAG and f["Last-Modified"] == LM_TEXT and f["Content-Type"] == "video/mp4"


def test_plan_single_range():
    p = plan(Range="bytes=100-")
    assert p["status"] == 206 and not p["multipart"]
    assert fields(p)["Content-Range"] == f"bytes 100-{N - 1}/{N}"
    assert p["content_length"] == N - 100


def test_plan_multipart_length_matches_the_framing():
    p = plan(Range="bytes=0-99,200-299")
    assert p["status"] == 206 and p["multipart"]
    f = fields(p)
    assert f["Content-Type"] == "multipart/byteranges; boundary=BOUNDARY"
    assert "Content-Range" not in f
    body = b"".join(_core._http_multipart_part("BOUNDARY", "video/mp4", a, b, N) + b"x" * (b - a + 1)
                    for a, b in p["ranges"]) + _core._http_multipart_close("BOUNDARY")
    assert int(f["Content-Length"]) == len(body) == p["content_length"]
    assert _core._http_multipart_part("B", "t/t", 0, 99, N) == \
        b"\r\n--B\r\nContent-Type: t/t\r\nContent-Range: bytes 0-99/3000000\r\n\r\n"
    assert _core._http_multipart_close("B") == b"\r\n--B--\r\n"


def test_plan_416():
    p = plan(Range="bytes=3000000-")
    assert p["status"] == 416 and fields(p)["Content-Range"] == f"bytes */{N}"
    assert int(fields(p)["Content-Length"]) == len(p["static_body"])


def test_plan_head_ignores_range():
    """DEVIATION (RFC 9110 §14.2: Range is defined for GET only): nginx answers HEAD+Range 206."""
    for r in ("bytes=0-99", "bytes=0-1,5-6", "bytes=3000000-"):
        p = plan("HEAD", Range=r)
        assert p["status"] == 200 and not p["send_body"] and fields(p)["Content-Length"] == str(N)


@pytest.mark.parametrize("headers,status", [
    ({"If_Range": ETAG, "Range": "bytes=0-9"}, 206),
    ({"If_Range": LM_TEXT, "Range": "bytes=0-9"}, 206),
    ({"If_Range": 'W/"abc-123"', "Range": "bytes=0-9"}, 200),
    ({"If_Range": '"other"', "Range": "bytes=0-9"}, 200),
    ({"If_Range": _core._http_format_date(LM - 1), "Range": "bytes=0-9"}, 200),
    ({"If_Range": "garbage", "Range": "bytes=0-9"}, 200),
    ({"If_Range": '"other"', "Range": "bytes=3000000-"}, 200),
    ({"If_None_Match": ETAG}, 304),
    ({"If_None_Match": "*"}, 304),
    ({"If_None_Match": 'W/"abc-123"'}, 304),  # weak comparison
    ({"If_None_Match": '"x", "abc-123"'}, 304),
    ({"If_None_Match": '"x"'}, 200),
    ({"If_None_Match": ETAG, "Range": "bytes=0-9"}, 304),
    ({"If_Modified_Since": LM_TEXT}, 304),
    ({"If_Modified_Since": LM_TEXT, "Range": "bytes=0-9"}, 304),
    ({"If_Modified_Since": _core._http_format_date(LM - 1)}, 200),
    ({"If_Modified_Since": "garbage"}, 200),
    ({"If_None_Match": '"x"', "If_Modified_Since": LM_TEXT}, 200),  # INM wins over IMS
    ({"If_Match": '"x"', "Range": "bytes=0-9"}, 412),
    ({"If_Match": 'W/"abc-123"'}, 412),  # strong comparison
    ({"If_Match": ETAG, "Range": "bytes=0-9"}, 206),
    ({"If_Match": "*"}, 200),
    ({"If_Match": '"x"', "If_None_Match": ETAG}, 412),  # 412 before 304
    ({"If_Unmodified_Since": _core._http_format_date(LM - 1)}, 412),
    ({"If_Unmodified_Since": LM_TEXT}, 200),
    ({"If_Match": ETAG, "If_Unmodified_Since": _core._http_format_date(LM - 1)}, 200),  # IM wins
])
def test_plan_preconditions(headers, status):
    assert plan(**headers)["status"] == status


def test_plan_304_has_validators_and_no_body():
    p = plan(If_None_Match=ETAG)
    assert not p["send_body"] and fields(p) == {"ETag": ETAG, "Last-Modified": LM_TEXT}


def test_plan_empty_resource():
    p = plan(size=0, Range="bytes=0-")
    assert p["status"] == 200 and p["ranges"] == [] and p["content_length"] == 0


def test_dates():
    t = 784111777
    for s in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"):
        assert _core._http_parse_date(s) == t
    assert _core._http_format_date(t) == "Sun, 06 Nov 1994 08:49:37 GMT"
    for bad in ("", "Sun, 06 Nov 1994 08:49:37", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                "Sun, 06 Nov 1994 08:49:37 GMT x", "yesterday"):
        assert _core._http_parse_date(bad) is None
    import email.utils
    for t in (0, 951782400, 1_700_000_000, 4102444800):
        assert _core._http_format_date(t) == email.utils.formatdate(t, usegmt=True)
        assert _core._http_parse_date(_core._http_format_date(t)) == t


def test_build_head_refuses_split_headers():
    assert _core._http_build_head(206, [("A", "b")]) == b"HTTP/1.1 206 Partial Content\r\nA: b\r\n\r\n"
    with pytest.raises(ValueError):
        _core._http_build_head(200, [("A", "b\r\nInjected: 1")])
    with pytest.raises(ValueError):
        _core._http_build_head(200, [("A:", "b")])
