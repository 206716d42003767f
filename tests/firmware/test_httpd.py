"""hublight.httpd over real sockets: HTTP RPC, REST calls, CORS, limits and bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from hublight.httpd import HttpServer, parse_query, www_authenticate
from yarl import URL

TIMEOUT = 30.0
CHALLENGE = {"auth_type": "digest", "nonce": 1234, "nc": 1, "realm": "hublight-1a2b3c",
             "algorithm": "SHA-256"}


class Notifier:
    """The notifier interface of the firmware: subscribe(fn) -> unsubscribe."""

    def __init__(self) -> None:
        self.subscribers: list[Callable[[dict[str, Any]], None]] = []

    def subscribe(self, fn: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        self.subscribers.append(fn)
        return lambda: self.subscribers.remove(fn)

    def publish(self, frame: dict[str, Any]) -> None:
        for fn in list(self.subscribers):
            fn(frame)


class LogSink:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def add(self, level: str, message: str) -> None:
        self.lines.append((level, message))


async def dispatch(frame: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any] | None:
    """A tiny stand-in for the firmware's RPC layer, written for these tests."""
    method = frame.get("method")
    if "id" not in frame:
        return None
    reply: dict[str, Any] = {"id": frame["id"], "src": "hublight-1a2b3c"}
    if frame.get("src"):
        reply["dst"] = frame["src"]
    if method == "Echo":
        reply["result"] = frame.get("params", "no params")
    elif method == "Ctx":
        reply["result"] = ctx
    elif method == "Secret":
        authorization = (ctx.get("http") or {}).get("authorization")
        if authorization == "Digest good":
            reply["result"] = "secret"
        else:
            reply["error"] = {"code": 401, "message": json.dumps(CHALLENGE)}
    elif method == "Boom":
        raise RuntimeError("handler bug")
    elif method == "Slow":
        await asyncio.sleep(0.2)
        reply["result"] = "slow"
    else:
        reply["error"] = {"code": 404, "message": f"No handler for {method}"}
    return reply


class Served:
    def __init__(self, server: HttpServer, notifier: Notifier, log: LogSink, port: int) -> None:
        self.server = server
        self.notifier = notifier
        self.log = log
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


ServeFactory = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    servers: list[asyncio.Server] = []
    made: list[Served] = []

    async def make(**limits: Any) -> Served:
        notifier = Notifier()
        log = LogSink()
        server = HttpServer(dispatch, notifier, log=log, iface="lan", **limits)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listener)
        served = Served(server, notifier, log, listener.sockets[0].getsockname()[1])
        made.append(served)
        return served

    yield make
    for served in made:
        await served.server.close_all()
    for listener in servers:
        listener.close()
        await listener.wait_closed()


@pytest.fixture
async def served(serve: ServeFactory) -> Served:
    result: Served = await serve()
    return result


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as client:
        yield client


async def raw_exchange(port: int, data: bytes, read_until_close: bool = True) -> bytes:
    """Send bytes on a fresh connection and read the answer until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if read_until_close:
            return await asyncio.wait_for(reader.read(), TIMEOUT)
        return await asyncio.wait_for(reader.read(65536), TIMEOUT)
    finally:
        writer.close()


async def still_serves(served: Served, session: aiohttp.ClientSession) -> None:
    async with session.post(served.url + "/rpc/Echo", json={"alive": True}) as response:
        assert response.status == 200
        assert await response.json() == {"alive": True}


# --- happy paths ---------------------------------------------------------------------------

async def test_post_frame_gets_whole_reply_frame(served: Served,
                                                 session: aiohttp.ClientSession) -> None:
    frame = {"id": 7, "src": "hub", "method": "Echo", "params": {"x": 1}}
    async with session.post(served.url + "/rpc", json=frame) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert await response.json() == {"id": 7, "src": "hublight-1a2b3c", "dst": "hub",
                                          "result": {"x": 1}}


async def test_ctx_describes_the_transport(served: Served,
                                           session: aiohttp.ClientSession) -> None:
    headers = {"Authorization": "Digest abc"}
    async with session.post(served.url + "/rpc", json={"id": 1, "method": "Ctx"},
                            headers=headers) as response:
        ctx = (await response.json())["result"]
    assert ctx == {"transport": "http", "iface": "lan", "peer": "127.0.0.1",
                   "http": {"method": "POST", "uri": "/rpc", "authorization": "Digest abc"}}
    async with session.get(served.url + "/rpc/Ctx?a=1") as response:
        ctx = await response.json()
    assert ctx["http"] == {"method": "GET", "uri": "/rpc/Ctx?a=1", "authorization": None}


async def test_notification_frame_gets_empty_reply(served: Served,
                                                   session: aiohttp.ClientSession) -> None:
    async with session.post(served.url + "/rpc", json={"method": "Echo"}) as response:
        assert response.status == 200
        assert await response.read() == b""


async def test_rest_post_returns_bare_result(served: Served,
                                             session: aiohttp.ClientSession) -> None:
    async with session.post(served.url + "/rpc/Echo", json={"on": True}) as response:
        assert response.status == 200
        assert await response.json() == {"on": True}
    async with session.post(served.url + "/rpc/Echo", data=b"") as response:
        assert await response.json() == "no params"


async def test_rest_errors_are_bare_error_objects_with_status(
        served: Served, session: aiohttp.ClientSession) -> None:
    async with session.post(served.url + "/rpc/Nope", json={}) as response:
        assert response.status == 404
        assert await response.json() == {"code": 404, "message": "No handler for Nope"}
    async with session.post(served.url + "/rpc/Boom") as response:
        assert response.status == 500
        assert (await response.json())["code"] == 500
    await still_serves(served, session)


async def test_401_carries_www_authenticate(served: Served,
                                            session: aiohttp.ClientSession) -> None:
    expected = ('Digest qop="auth", realm="hublight-1a2b3c", nonce="1234", '
                'algorithm=SHA-256')
    async with session.post(served.url + "/rpc/Secret") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == expected
        assert (await response.json())["code"] == 401
    async with session.post(served.url + "/rpc",
                            json={"id": 3, "src": "hub", "method": "Secret"}) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == expected
        assert (await response.json())["error"]["code"] == 401
    async with session.get(served.url + "/rpc/Secret",
                           headers={"Authorization": "Digest good"}) as response:
        assert response.status == 200
        assert await response.json() == "secret"


async def test_get_query_values_parsed_as_json_else_strings(
        served: Served, session: aiohttp.ClientSession) -> None:
    query = ("on=true&brightness=50&rgb=%5B1,2,3%5D&ssid=My%20Net%20%26%20%2B%3D%27"
             "&quoted=%22123%22&plain=hello+world&utf=%C3%A9t%C3%A9&empty=")
    async with session.get(URL(served.url + "/rpc/Echo?" + query, encoded=True)) as response:
        assert response.status == 200
        assert await response.json() == {
            "on": True, "brightness": 50, "rgb": [1, 2, 3], "ssid": "My Net & +='",
            "quoted": "123", "plain": "hello world", "utf": "été", "empty": ""}
    async with session.get(URL(served.url + "/rpc/Echo?bad=%ZZ", encoded=True)) as response:
        assert response.status == 400
        assert "percent" in (await response.json())["message"]


async def test_options_preflight(served: Served, session: aiohttp.ClientSession) -> None:
    headers = {"Origin": "http://example", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type, authorization"}
    async with session.options(served.url + "/rpc/Light.Set", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"] == "content-type, authorization"


async def test_keep_alive_and_pipelining_on_one_connection(served: Served) -> None:
    body = b'{"n": 1}'
    request = (b"POST /rpc/Echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
               % (len(body), body))
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(request + request)  # pipelined
        await writer.drain()
        answers = []
        for _ in range(2):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Connection: keep-alive" in head
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            answers.append(await reader.readexactly(length))
        assert answers == [body, body]
        writer.write(b"GET /rpc/Echo?last=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), TIMEOUT)
        assert rest.startswith(b"HTTP/1.1 200 OK\r\n") and rest.endswith(b'{"last": 1}')
    finally:
        writer.close()


async def test_curl_posts_large_body_with_expect_continue(served: Served, tmp_path: Any) -> None:
    payload = {"name": "x" * 3000}
    body_file = tmp_path / "body.json"
    body_file.write_text(json.dumps(payload))
    result = await asyncio.to_thread(
        subprocess.run,
        ["curl", "-sS", "--max-time", "20", "-H", "Expect: 100-continue",
         "-H", "Content-Type: application/json", "--data-binary", f"@{body_file}",
         served.url + "/rpc/Echo"],
        capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == payload


# --- bad input -----------------------------------------------------------------------------

async def test_bad_bodies_and_paths(served: Served, session: aiohttp.ClientSession) -> None:
    async with session.post(served.url + "/rpc", data=b"{not json") as response:
        assert response.status == 400
        assert (await response.json())["error"]["message"] == "request body is not a JSON frame"
    async with session.post(served.url + "/rpc", data=b"[1, 2]") as response:
        assert response.status == 400
    async with session.post(served.url + "/rpc/Echo", data=b"\xff\xfe") as response:
        assert response.status == 400
    async with session.get(served.url + "/index.html") as response:
        assert response.status == 404
    async with session.put(served.url + "/rpc/Echo", data=b"{}") as response:
        assert response.status == 405
    async with session.get(served.url + "/rpc") as response:
        assert response.status == 426
    await still_serves(served, session)


@pytest.mark.parametrize("garbage", [
    b"\x00\x01\x02\xff\r\n\r\n",
    b"HELLO\r\n\r\n",
    b"GET /rpc/Echo HTTP/9.9\r\n\r\n",
    b"GET rpc HTTP/1.1\r\n\r\n",
    b"GET /rpc/Echo HTTP/1.1\r\nno colon here\r\n\r\n",
    b"POST /rpc/Echo HTTP/1.1\r\nContent-Length: banana\r\n\r\n",
    b"POST /rpc/Echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
])
async def test_garbage_requests_get_400_and_server_keeps_serving(
        served: Served, session: aiohttp.ClientSession, garbage: bytes) -> None:
    answer = await raw_exchange(served.port, garbage)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer
    await still_serves(served, session)


async def test_post_without_length_or_chunked_gets_411(served: Served,
                                                       session: aiohttp.ClientSession) -> None:
    answer = await raw_exchange(served.port, b"POST /rpc/Echo HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 ")
    chunked = (b"POST /rpc/Echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"2\r\n{}\r\n0\r\n\r\n")
    answer = await raw_exchange(served.port, chunked)
    assert answer.startswith(b"HTTP/1.1 411 ")
    assert b"Content-Length" in answer.split(b"\r\n\r\n", 1)[1]
    await still_serves(served, session)


async def test_huge_headers_get_431(served: Served, session: aiohttp.ClientSession) -> None:
    request = b"GET /rpc/Echo HTTP/1.1\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n"
    answer = await raw_exchange(served.port, request)
    assert answer.startswith(b"HTTP/1.1 431 ")
    # A header block that never ends is cut at the limit too.
    answer = await raw_exchange(served.port, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 2000)
    assert answer.startswith(b"HTTP/1.1 431 ")
    await still_serves(served, session)


async def test_one_megabyte_body_gets_413_and_close(served: Served,
                                                    session: aiohttp.ClientSession) -> None:
    answer = await raw_exchange(
        served.port, b"POST /rpc/Echo HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer
    # A client that sends the whole megabyte anyway sees the 413 (or a reset), never a hang.
    try:
        async with session.post(served.url + "/rpc/Echo", data=b"[" + b"1," * 524287 + b"1]",
                                headers={"Connection": "close"}) as response:
            assert response.status == 413
    except aiohttp.ClientError:
        pass
    exactly_limit = b'"' + b"a" * (16384 - 2) + b'"'
    async with session.post(served.url + "/rpc/Echo", data=exactly_limit) as response:
        assert response.status == 200
        assert len(await response.json()) == 16382
    await still_serves(served, session)


async def test_slowloris_is_cut_off(serve: ServeFactory,
                                    session: aiohttp.ClientSession) -> None:
    served = await serve(request_timeout_s=1.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    request = b"GET /rpc/Echo?slow=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    closed_early = False
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                # read(n) returns what has arrived; read() would lose it when cancelled.
                answer = await asyncio.wait_for(reader.read(65536), 0.5)
            except TimeoutError:
                continue
            closed_early = True
            assert answer.startswith(b"HTTP/1.1 408 ")
            break
    except ConnectionError:
        closed_early = True
    finally:
        writer.close()
    assert closed_early
    await still_serves(served, session)


async def test_idle_keep_alive_connection_is_closed(serve: ServeFactory) -> None:
    served = await serve(request_timeout_s=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(b"GET /rpc/Echo?a=1 HTTP/1.1\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # read until the server closes
        assert answer.startswith(b"HTTP/1.1 200 OK")
    finally:
        writer.close()
    for _ in range(100):
        if not served.server.connections:
            break
        await asyncio.sleep(0.05)
    assert served.server.connections == []


async def test_half_open_and_aborted_connections_are_released(
        serve: ServeFactory, session: aiohttp.ClientSession) -> None:
    served = await serve(request_timeout_s=1.0, max_connections=3)
    for partial in (b"", b"POST /rpc/Echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n{",
                    b"GET /rpc/Ech"):
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(partial)
        await writer.drain()
        writer.transport.abort()
    # Half-open: the client sends a partial request and never reads or closes.
    _, lingering = await asyncio.open_connection("127.0.0.1", served.port)
    lingering.write(b"GET /rpc/Echo HTTP/1.1\r\n")
    await lingering.drain()
    for _ in range(200):
        if not served.server.connections:
            break
        await asyncio.sleep(0.05)
    assert served.server.connections == []
    lingering.close()
    await still_serves(served, session)


async def test_connection_limit_closes_extra_connections(serve: ServeFactory) -> None:
    served = await serve(max_connections=2)
    held = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(2)]
    for _ in range(100):
        if len(served.server.connections) == 2:
            break
        await asyncio.sleep(0.02)
    try:
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", served.port)
        extra_writer.write(b"GET /rpc/Echo HTTP/1.1\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(extra_reader.read(), TIMEOUT) == b""
        extra_writer.close()
        reader, writer = held[0]
        writer.write(b"GET /rpc/Echo?held=1 HTTP/1.1\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 200 OK")
    finally:
        for _, writer in held:
            writer.close()


# --- pure helpers ----------------------------------------------------------------------------

def test_parse_query_and_challenge_helpers() -> None:
    assert parse_query("a=1&b=x&c=null&d") == {"a": 1, "b": "x", "c": None, "d": ""}
    assert www_authenticate("not json") is None
    assert www_authenticate(json.dumps(CHALLENGE)) == (
        'Digest qop="auth", realm="hublight-1a2b3c", nonce="1234", algorithm=SHA-256')
