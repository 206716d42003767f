"""HTTP request parsing of hublight.httpd (pure functions)."""

from hublight.httpd import (
    HttpError,
    build_response,
    find_head_end,
    header_has_token,
    parse_head,
    parse_query,
    percent_decode,
    split_target,
    www_authenticate,
)


def _expect_http_error(status, fn, *args):
    try:
        fn(*args)
    except HttpError as err:
        assert err.status == status, "expected " + str(status) + ", got " + str(err.status)
        return err.message
    raise AssertionError("expected HttpError " + str(status))


def test_parse_head_request_line_and_headers():
    method, target, version, headers = parse_head(
        b"POST /rpc/Light.Set?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
        b"X-Dup: 1\r\nx-dup: 2")
    assert (method, target, version) == ("POST", "/rpc/Light.Set?x=1", "HTTP/1.1")
    assert headers == {"host": "a", "content-length": "2", "x-dup": "1, 2"}


def test_parse_head_rejects_garbage():
    _expect_http_error(400, parse_head, b"\xff\xfe")
    _expect_http_error(400, parse_head, b"GET /")
    _expect_http_error(400, parse_head, b"get / HTTP/1.1")
    _expect_http_error(400, parse_head, b"GET / HTTP/2.0")
    _expect_http_error(400, parse_head, b"GET rpc HTTP/1.1")
    _expect_http_error(400, parse_head, b"GET / HTTP/1.1\r\nno colon")
    _expect_http_error(400, parse_head, b"GET / HTTP/1.1\r\n: empty name")


def test_head_end_with_crlf_and_lf():
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nbody") == (14, 4)
    assert find_head_end(b"GET / HTTP/1.1\n\nbody") == (14, 2)
    assert find_head_end(b"GET / HTTP/1.1\r\n") == (-1, 0)


def test_percent_decoding_and_query_values():
    assert percent_decode("a%20b%2B%26") == "a b+&"
    assert percent_decode("a+b", True) == "a b"
    assert percent_decode("%C3%A9") == "\u00e9"
    _expect_http_error(400, percent_decode, "%G1")
    _expect_http_error(400, percent_decode, "%4")
    _expect_http_error(400, percent_decode, "%ff")
    assert split_target("/rpc/Sys.GetInfo?a=1") == ("/rpc/Sys.GetInfo", "a=1")
    assert split_target("/rpc/A%2EB") == ("/rpc/A.B", "")
    params = parse_query("on=true&b=50&rgb=%5B1%2C2%2C3%5D&ssid=My+Net%21&q=%227%22&k")
    assert params == {"on": True, "b": 50, "rgb": [1, 2, 3], "ssid": "My Net!", "q": "7",
                      "k": ""}


def test_tokens_and_challenge_header():
    assert header_has_token("keep-alive, Upgrade", "upgrade")
    assert not header_has_token("keep-alive", "upgrade")
    assert not header_has_token(None, "upgrade")
    challenge = '{"auth_type":"digest","nonce":5,"nc":1,"realm":"hublight-1","algorithm":"SHA-256"}'
    assert www_authenticate(challenge) == \
        'Digest qop="auth", realm="hublight-1", nonce="5", algorithm=SHA-256'
    assert www_authenticate("nope") is None
    assert www_authenticate(None) is None


def test_build_response():
    response = build_response(200, b"[]", "X-A: 1\r\n", keep_alive=False)
    head, body = response.split(b"\r\n\r\n")
    assert body == b"[]"
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Length: 2" in lines
    assert b"Access-Control-Allow-Origin: *" in lines
    assert b"Connection: close" in lines and b"X-A: 1" in lines
    assert b"Content-Length" not in build_response(204)
