"""HTTP/1.1 server for /rpc: whole frames, REST calls (POST/GET /rpc/<Method>) and WebSocket.

`HttpServer(dispatch, notifier, iface)`; pass `server.handle` as the stream callback of
`board.start_server`. `dispatch(frame, ctx)` is async and returns a reply frame or None;
`notifier.subscribe(fn)` returns an unsubscribe callable and calls `fn(frame)` for every
notification frame. Bad requests get a clear error status and never stop the server.
"""

import json

try:
    import asyncio
except ImportError:  # pragma: no cover - very old MicroPython
    import uasyncio as asyncio  # type: ignore[import-not-found,no-redef]

from hublight import wsproto

try:
    from typing import Any, Callable
except ImportError:  # MicroPython: annotations are not evaluated there
    pass

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
    413: "Content Too Large", 418: "I'm a teapot", 426: "Upgrade Required",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}

CORS_HEADERS = ("Access-Control-Allow-Origin: *\r\n"
                "Access-Control-Expose-Headers: WWW-Authenticate\r\n")


class HttpError(Exception):
    """A request that gets an error status (and, with close=True, the connection closed)."""

    def __init__(self, status: int, message: str, close: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.close = close


# --- pure request parsing ----------------------------------------------------------------

def find_head_end(data: bytes) -> "tuple[int, int]":
    """-> (index where the header block ends, length of the terminator) or (-1, 0)."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def parse_head(head: bytes) -> "tuple[str, str, str, dict[str, str]]":
    """Parse a request line and headers (without the blank line).

    -> (method, target, version, headers with lower-case names). Raises HttpError(400).
    """
    try:
        text = head.decode()
    except UnicodeError:
        raise HttpError(400, "request head is not valid UTF-8")
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not method.isalpha() or not method.isupper():
        raise HttpError(400, "malformed request method")
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(400, "unsupported HTTP version: %s" % version[:16])
    if not (target.startswith("/") or target == "*"):
        raise HttpError(400, "request target must be a path")
    headers = {}  # type: dict[str, str]
    for line in lines[1:]:
        if not line:
            continue
        colon = line.find(":")
        if colon <= 0 or line[0] in " \t":
            raise HttpError(400, "malformed header line")
        name = line[:colon].strip().lower()
        if not name or " " in name:
            raise HttpError(400, "malformed header name")
        value = line[colon + 1:].strip()
        if name in headers:
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    return method, target, version, headers


def percent_decode(text: str, plus_is_space: bool = False) -> str:
    """Decode %XX escapes (UTF-8); `+` becomes a space in query strings. Raises HttpError(400)."""
    if plus_is_space:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    raw = text.encode()
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25:  # "%"
            hex_digits = raw[i + 1:i + 3]
            if len(hex_digits) != 2 or b"+" in hex_digits or b"-" in hex_digits:
                raise HttpError(400, "bad percent-escape in URL")
            try:
                out.append(int(hex_digits.decode(), 16))
            except ValueError:
                raise HttpError(400, "bad percent-escape in URL")
            i += 3
        else:
            out.append(byte)
            i += 1
    try:
        return bytes(out).decode()
    except UnicodeError:
        raise HttpError(400, "URL is not valid UTF-8 after decoding")


def split_target(target: str) -> "tuple[str, str]":
    """-> (decoded path, raw query string)."""
    question = target.find("?")
    if question < 0:
        return percent_decode(target), ""
    return percent_decode(target[:question]), target[question + 1:]


def parse_query(query: str) -> "dict[str, Any]":
    """Query string -> params; each value is parsed as JSON when it parses, else kept a string."""
    params = {}  # type: dict[str, Any]
    if not query:
        return params
    for pair in query.split("&"):
        if not pair:
            continue
        equals = pair.find("=")
        if equals < 0:
            key, raw_value = pair, ""
        else:
            key, raw_value = pair[:equals], pair[equals + 1:]
        key = percent_decode(key, True)
        value = percent_decode(raw_value, True)
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def header_has_token(value: "str | None", token: str) -> bool:
    """True if a comma-separated header value contains token (case-insensitive)."""
    if not value:
        return False
    for item in value.split(","):
        if item.strip().lower() == token:
            return True
    return False


def www_authenticate(challenge_message: Any) -> "str | None":
    """Build a WWW-Authenticate value from the challenge JSON of a 401 error, or None."""
    try:
        challenge = json.loads(challenge_message)
        realm = challenge["realm"]
        nonce = challenge["nonce"]
    except (ValueError, TypeError, KeyError):
        return None
    algorithm = challenge.get("algorithm") or "SHA-256"
    return 'Digest qop="auth", realm="%s", nonce="%s", algorithm=%s' % (
        str(realm).replace('"', ""), str(nonce).replace('"', ""), algorithm)


def error_status(code: Any) -> int:
    """HTTP status for an MG-RPC error code (400..599 map to themselves, anything else 500)."""
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    return 500


def build_response(status: int, body: bytes = b"", headers: str = "",
                   keep_alive: bool = True, content_type: str = "application/json") -> bytes:
    """A whole HTTP/1.1 response (with CORS headers and Content-Length)."""
    head = "HTTP/1.1 %d %s\r\n%s" % (status, REASONS.get(status, "Error"), CORS_HEADERS)
    if status != 204:
        if body:
            head += "Content-Type: %s\r\n" % content_type
        head += "Content-Length: %d\r\n" % len(body)
    head += "Cache-Control: no-store\r\n"
    head += "Connection: %s\r\n" % ("keep-alive" if keep_alive else "close")
    return (head + headers + "\r\n").encode() + body


def error_body(code: int, message: str) -> bytes:
    """A bare error object as JSON bytes."""
    return json.dumps({"code": code, "message": message}).encode()


# --- connections ---------------------------------------------------------------------------

class _Connection:
    """A stream pair with a read buffer (reads are cancellation-safe: nothing is lost)."""

    def __init__(self, reader: Any, writer: Any, peer: str) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.buffer = b""
        self.closed = False
        self.session = None  # type: Any

    async def fill(self, size: int = 1024) -> bool:
        """Read more bytes into the buffer. -> False at end of stream."""
        data = await self.reader.read(size)
        if not data:
            return False
        self.buffer = self.buffer + data
        return True

    def take(self, count: int) -> bytes:
        data = self.buffer[:count]
        self.buffer = self.buffer[count:]
        return data

    async def write(self, data: bytes, timeout: float) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), timeout)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except Exception:  # noqa: BLE001 - the peer may already be gone; nothing to report
            pass


def _peer_host(writer: Any) -> str:
    try:
        peer = writer.get_extra_info("peername")
        if isinstance(peer, (tuple, list)) and peer:
            return str(peer[0])
    except Exception:  # noqa: BLE001 - some stream types have no peername
        pass
    return ""


class HttpServer:
    """The RPC HTTP/WebSocket server of one interface (see the module docstring)."""

    def __init__(self, dispatch: "Callable[..., Any]", notifier: Any, log: Any = None,
                 iface: str = "lan", max_body: int = 16384, max_header: int = 4096,
                 request_timeout_s: float = 10.0, max_connections: int = 8,
                 ws_max_message: int = 16384, ws_ping_interval_s: float = 60.0,
                 ws_max_pending: int = 32) -> None:
        self.dispatch = dispatch
        self.notifier = notifier
        self.log = log
        self.iface = iface
        self.max_body = max_body
        self.max_header = max_header
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self.ws_max_message = ws_max_message
        self.ws_ping_interval_s = ws_ping_interval_s
        self.ws_max_pending = ws_max_pending
        self.connections = []  # type: list[_Connection]
        self._next_id = 1

    def _log(self, level: str, message: str) -> None:
        if self.log is not None:
            try:
                self.log.add(level, "httpd: " + message)
            except Exception:  # noqa: BLE001 - logging must never break serving
                pass

    def _ctx(self, transport: str, peer: str, http: Any) -> "dict[str, Any]":
        return {"transport": transport, "iface": self.iface, "peer": peer, "http": http}

    async def _call(self, frame: "dict[str, Any]", ctx: "dict[str, Any]") -> Any:
        try:
            return await self.dispatch(frame, ctx)
        except Exception as exc:  # noqa: BLE001 - a failing handler never kills the connection
            self._log("error", "dispatch failed: %r" % (exc,))
            reply = {"error": {"code": 500, "message": "internal error"}}  # type: dict[str, Any]
            if frame.get("id") is not None:
                reply["id"] = frame["id"]
            return reply

    async def close_all(self) -> None:
        """Close every open connection (WebSockets get a 1001 close frame first)."""
        for conn in list(self.connections):
            session = conn.session
            if session is not None:
                await session.send_close(wsproto.CLOSE_GOING_AWAY, "shutting down")
            await conn.close()

    async def handle(self, reader: Any, writer: Any) -> None:
        """The stream callback: serve one connection until it closes."""
        conn = _Connection(reader, writer, _peer_host(writer))
        if len(self.connections) >= self.max_connections:
            self._log("warn", "too many connections, refused %s" % conn.peer)
            await conn.close()
            return
        self.connections.append(conn)
        try:
            await self._serve(conn)
        except Exception as exc:  # noqa: BLE001 - e.g. a reset by the peer; keep serving others
            self._log("debug", "connection from %s ended: %r" % (conn.peer, exc))
        finally:
            if conn in self.connections:
                self.connections.remove(conn)
            await conn.close()

    async def _serve(self, conn: _Connection) -> None:
        while True:
            if not conn.buffer:
                try:
                    if not await asyncio.wait_for(conn.fill(), self.request_timeout_s):
                        return
                except asyncio.TimeoutError:
                    return  # idle keep-alive connection
            try:
                request = await asyncio.wait_for(self._read_request(conn),
                                                 self.request_timeout_s)
            except asyncio.TimeoutError:
                await self._send_error(conn, HttpError(408, "request too slow"))
                return
            except HttpError as exc:
                self._log("warn", "bad request from %s: %s" % (conn.peer, exc.message))
                await self._send_error(conn, exc)
                return
            if request is None:
                return
            if not await self._respond(conn, request):
                return

    async def _send_error(self, conn: _Connection, error: HttpError) -> None:
        await conn.write(build_response(error.status, error_body(error.status, error.message),
                                        keep_alive=not error.close), self.request_timeout_s)
        if error.close:
            await self._linger(conn)

    async def _linger(self, conn: _Connection) -> None:
        # Read (and drop) what the client is still sending so that closing does not reset the
        # connection before the client has read our error response.
        try:
            if hasattr(conn.writer, "write_eof"):
                conn.writer.write_eof()
            dropped = 0
            while dropped < 4 * self.max_body + 65536:
                data = await asyncio.wait_for(conn.reader.read(4096), 1.0)
                if not data:
                    break
                dropped += len(data)
        except Exception:  # noqa: BLE001 - timeout or reset: we close anyway
            pass

    async def _read_request(self, conn: _Connection) -> "dict[str, Any] | None":
        while True:
            # Tolerate blank lines between requests (RFC 9112 2.2).
            while conn.buffer[:2] == b"\r\n" or conn.buffer[:1] == b"\n":
                conn.take(2 if conn.buffer[:2] == b"\r\n" else 1)
            end, terminator = find_head_end(conn.buffer)
            if end >= 0:
                break
            if len(conn.buffer) > self.max_header:
                raise HttpError(431, "request headers larger than %d bytes" % self.max_header)
            if not await conn.fill():
                if conn.buffer:
                    raise HttpError(400, "connection closed inside the request head")
                return None
        if end > self.max_header:
            raise HttpError(431, "request headers larger than %d bytes" % self.max_header)
        head = conn.take(end + terminator)[:end]
        method, target, version, headers = parse_head(head)
        body = b""
        if "transfer-encoding" in headers:
            raise HttpError(411, "chunked request bodies are not supported: send Content-Length")
        length_text = headers.get("content-length")
        if length_text is None:
            if method == "POST":
                raise HttpError(411, "POST needs a Content-Length header")
        else:
            try:
                length = int(length_text)
            except ValueError:
                raise HttpError(400, "invalid Content-Length")
            if length < 0:
                raise HttpError(400, "invalid Content-Length")
            if length > self.max_body:
                raise HttpError(413, "request body larger than %d bytes" % self.max_body)
            if length and header_has_token(headers.get("expect"), "100-continue"):
                await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n", self.request_timeout_s)
            while len(conn.buffer) < length:
                if not await conn.fill(min(4096, length - len(conn.buffer))):
                    raise HttpError(400, "connection closed inside the request body")
            body = conn.take(length)
        keep_alive = version == "HTTP/1.1"
        connection = headers.get("connection")
        if header_has_token(connection, "close"):
            keep_alive = False
        elif header_has_token(connection, "keep-alive"):
            keep_alive = True
        return {"method": method, "target": target, "version": version, "headers": headers,
                "body": body, "keep_alive": keep_alive}

    async def _respond(self, conn: _Connection, request: "dict[str, Any]") -> bool:
        """Answer one request. -> True to keep the connection for the next request."""
        keep_alive = bool(request["keep_alive"])
        method = request["method"]
        headers = request["headers"]
        try:
            path, query = split_target(request["target"])
        except HttpError as exc:
            await conn.write(build_response(400, error_body(400, exc.message),
                                            keep_alive=keep_alive), self.request_timeout_s)
            return keep_alive
        if method == "OPTIONS":
            allow_headers = headers.get("access-control-request-headers") or \
                "Content-Type, Authorization"
            extra = ("Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: %s\r\n"
                     "Access-Control-Max-Age: 600\r\n" % allow_headers)
            await conn.write(build_response(204, b"", extra, keep_alive), self.request_timeout_s)
            return keep_alive
        if path == "/rpc" and method == "GET" and \
                header_has_token(headers.get("upgrade"), "websocket"):
            await self._upgrade(conn, request)
            return False
        status, body, extra = await self._route(conn, request, path, query)
        await conn.write(build_response(status, body, extra, keep_alive), self.request_timeout_s)
        return keep_alive

    async def _route(self, conn: _Connection, request: "dict[str, Any]", path: str,
                     query: str) -> "tuple[int, bytes, str]":
        method = request["method"]
        http = {"method": method, "uri": request["target"],
                "authorization": request["headers"].get("authorization")}
        ctx = self._ctx("http", conn.peer, http)
        if path in ("/rpc", "/rpc/"):
            if method == "GET":
                return 426, error_body(400, "GET /rpc needs a WebSocket upgrade; "
                                            "use GET /rpc/<Method> for a single call"), \
                    "Upgrade: websocket\r\n"
            if method != "POST":
                return 405, error_body(405, "use POST /rpc"), "Allow: POST, GET, OPTIONS\r\n"
            try:
                frame = json.loads(request["body"])
            except (ValueError, UnicodeError):
                return 400, json.dumps({"error": {
                    "code": 400, "message": "request body is not a JSON frame"}}).encode(), ""
            if not isinstance(frame, dict):
                return 400, json.dumps({"error": {
                    "code": 400, "message": "a frame must be a JSON object"}}).encode(), ""
            reply = await self._call(frame, ctx)
            if reply is None:
                return 200, b"", ""
            status = 200
            extra = ""
            error = reply.get("error") if isinstance(reply, dict) else None
            if isinstance(error, dict) and error.get("code") == 401:
                status, extra = 401, self._challenge_header(error)
            return status, json.dumps(reply).encode(), extra
        if not path.startswith("/rpc/"):
            return 404, error_body(404, "no such path: %s (use /rpc)" % path[:64]), ""
        rpc_method = path[5:]
        if not rpc_method or "/" in rpc_method:
            return 404, error_body(404, "no such path: %s" % path[:64]), ""
        if method == "GET":
            try:
                params = parse_query(query)  # type: Any
            except HttpError as exc:
                return 400, error_body(400, exc.message), ""
        elif method == "POST":
            body = request["body"]
            if body.strip():
                try:
                    params = json.loads(body)
                except (ValueError, UnicodeError):
                    return 400, error_body(400, "request body is not JSON"), ""
            else:
                params = None
        else:
            return 405, error_body(405, "use GET or POST"), "Allow: POST, GET, OPTIONS\r\n"
        rest_frame = {"id": self._next_id, "method": rpc_method}  # type: dict[str, Any]
        self._next_id += 1
        if params is not None and params != {}:
            rest_frame["params"] = params
        reply = await self._call(rest_frame, ctx)
        if not isinstance(reply, dict):
            return 500, error_body(500, "no reply from %s" % rpc_method[:64]), ""
        error = reply.get("error")
        if isinstance(error, dict) and error.get("code", 0) != 0:
            status = error_status(error.get("code"))
            extra = self._challenge_header(error) if status == 401 else ""
            return status, json.dumps(error).encode(), extra
        return 200, json.dumps(reply.get("result")).encode(), ""

    def _challenge_header(self, error: "dict[str, Any]") -> str:
        value = www_authenticate(error.get("message"))
        return "WWW-Authenticate: %s\r\n" % value if value else ""

    async def _upgrade(self, conn: _Connection, request: "dict[str, Any]") -> None:
        headers = request["headers"]
        key = headers.get("sec-websocket-key", "")
        if headers.get("sec-websocket-version") != "13":
            await conn.write(build_response(
                426, error_body(400, "WebSocket version 13 required"),
                "Sec-WebSocket-Version: 13\r\n", False), self.request_timeout_s)
            return
        if not header_has_token(headers.get("connection"), "upgrade") or len(key) != 24:
            await conn.write(build_response(
                400, error_body(400, "bad WebSocket handshake"), "", False),
                self.request_timeout_s)
            return
        extra = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % \
            wsproto.accept_key(key)
        if header_has_token(headers.get("sec-websocket-protocol"), "json-rpc"):
            extra += "Sec-WebSocket-Protocol: json-rpc\r\n"
        conn.writer.write(("HTTP/1.1 101 Switching Protocols\r\n" + extra + "\r\n").encode())
        await asyncio.wait_for(conn.writer.drain(), self.request_timeout_s)
        session = WsSession(self, conn)
        conn.session = session
        try:
            await session.run()
        finally:
            conn.session = None
            session.stop()


class WsSession:
    """One WebSocket connection: requests in, replies and notifications out."""

    def __init__(self, server: HttpServer, conn: _Connection) -> None:
        self.server = server
        self.conn = conn
        self.src = None  # type: str | None
        self.pending = []  # type: list[dict[str, Any]]
        self.overflow = False
        self.wakeup = asyncio.Event()
        self.lock = asyncio.Lock()
        self.unsubscribe = None  # type: Any
        self.pusher = None  # type: Any
        self.close_sent = False

    async def send(self, opcode: int, payload: bytes) -> None:
        await self.lock.acquire()
        try:
            await self.conn.write(wsproto.encode_frame(opcode, payload),
                                  self.server.request_timeout_s)
        finally:
            self.lock.release()

    async def send_close(self, code: int, reason: str = "") -> None:
        if self.close_sent or self.conn.closed:
            return
        self.close_sent = True
        try:
            await self.send(wsproto.OP_CLOSE, wsproto.close_payload(code, reason))
        except Exception:  # noqa: BLE001 - the peer may be gone already
            pass

    async def send_json(self, frame: Any) -> None:
        await self.send(wsproto.OP_TEXT, json.dumps(frame).encode())

    def _notify(self, frame: Any) -> None:
        if self.conn.closed or not isinstance(frame, dict):
            return
        if len(self.pending) >= self.server.ws_max_pending:
            self.overflow = True
        else:
            out = dict(frame)
            out["dst"] = self.src
            self.pending.append(out)
        self.wakeup.set()

    async def _push_notifications(self) -> None:
        while not self.conn.closed:
            await self.wakeup.wait()
            self.wakeup.clear()
            if self.overflow:
                self.server._log("warn", "WebSocket client %s too slow for notifications"
                                 % self.conn.peer)
                await self.send_close(wsproto.CLOSE_TRY_AGAIN_LATER, "notification backlog")
                await self.conn.close()
                return
            while self.pending:
                frame = self.pending.pop(0)
                await self.send_json(frame)

    def _subscribe(self, src: str) -> None:
        self.src = src
        try:
            self.unsubscribe = self.server.notifier.subscribe(self._notify)
        except Exception as exc:  # noqa: BLE001 - no notifications, but requests still work
            self.server._log("error", "notifier.subscribe failed: %r" % (exc,))
            return
        self.pusher = asyncio.create_task(self._push_notifications())

    def stop(self) -> None:
        """Unsubscribe from notifications and stop pushing."""
        if self.unsubscribe is not None:
            unsubscribe, self.unsubscribe = self.unsubscribe, None
            try:
                unsubscribe()
            except Exception:  # noqa: BLE001
                pass
        if self.pusher is not None:
            self.pusher.cancel()
            self.pusher = None

    async def _read_frame(self) -> "tuple[Any, ...] | None":
        max_payload = self.server.ws_max_message
        while True:
            decoded = wsproto.decode_frame(self.conn.buffer, max_payload)
            if decoded is not None:
                self.conn.take(decoded[3])
                return decoded
            if not await self.conn.fill(2048):
                return None

    async def run(self) -> None:
        """Read frames until the peer closes, breaks the protocol or goes silent."""
        assembler = wsproto.MessageAssembler(self.server.ws_max_message)
        ping_outstanding = False
        try:
            while not self.conn.closed:
                try:
                    decoded = await asyncio.wait_for(self._read_frame(),
                                                     self.server.ws_ping_interval_s)
                except asyncio.TimeoutError:
                    if self.conn.buffer:
                        raise wsproto.WsProtocolError(wsproto.CLOSE_POLICY, "frame too slow")
                    if ping_outstanding:
                        self.server._log("info", "WebSocket peer %s silent, closing"
                                         % self.conn.peer)
                        return
                    ping_outstanding = True
                    await self.send(wsproto.OP_PING, b"hublight")
                    continue
                if decoded is None:
                    return
                ping_outstanding = False
                fin, opcode, payload = decoded[0], decoded[1], decoded[2]
                message = assembler.feed(fin, opcode, payload)
                if message is None:
                    continue
                opcode, payload = message
                if opcode == wsproto.OP_PING:
                    await self.send(wsproto.OP_PONG, payload)
                elif opcode == wsproto.OP_CLOSE:
                    code, _ = wsproto.parse_close_payload(payload)
                    await self.send_close(code or wsproto.CLOSE_NORMAL)
                    return
                elif opcode in (wsproto.OP_TEXT, wsproto.OP_BINARY):
                    await self._on_message(opcode, payload)
        except wsproto.WsProtocolError as exc:
            self.server._log("warn", "WebSocket %s: %s" % (self.conn.peer, exc.message))
            await self.send_close(exc.close_code, exc.message)

    async def _on_message(self, opcode: int, payload: bytes) -> None:
        try:
            text = payload.decode()
        except UnicodeError:
            if opcode == wsproto.OP_TEXT:
                raise wsproto.WsProtocolError(wsproto.CLOSE_INVALID_DATA,
                                              "text message is not UTF-8")
            text = ""
        try:
            frame = json.loads(text)
        except ValueError:
            await self.send_json({"error": {"code": 400, "message": "message is not a JSON frame"}})
            return
        if not isinstance(frame, dict):
            await self.send_json({"error": {"code": 400,
                                            "message": "a frame must be a JSON object"}})
            return
        src = frame.get("src")
        if self.src is None and isinstance(src, str) and src:
            self._subscribe(src)
        reply = await self.server._call(frame, self.server._ctx("ws", self.conn.peer, None))
        if reply is not None:
            await self.send_json(reply)
