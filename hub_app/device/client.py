"""DeviceClient: MG-RPC to one light over HTTP (`POST /rpc` frames) and WebSocket (`/rpc`).

    async with aiohttp.ClientSession() as session:
        light = DeviceClient(session, "192.168.4.1", password="ABCD2345")
        info = await light.get_info()
        await light.connect_ws()                    # notifications + calls over the socket
        unsubscribe = light.subscribe(print)
        await light.set_light(on=True, brightness=40)
        ...
        await light.close()

Every call has a timeout and raises only `DeviceError` subclasses for what the light or the
network did (see `errors.py`). Digest auth (frame auth, MD5 / SHA-256) is answered transparently.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import itertools
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from yarl import URL

from hub_app.device.digest import (
    Challenge,
    DigestAuth,
    parse_challenge_message,
    parse_www_authenticate,
)
from hub_app.device.errors import (
    AuthError,
    BadReplyError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    RpcError,
)
from hub_app.device.reconnect import Backoff, Reconnector
from hub_app.device.trace import RpcTrace, TraceCallback, redact_frame

__all__ = [
    "ConnectionEvent",
    "ConnectionState",
    "DeviceClient",
    "Notification",
    "Transport",
]

_LOGGER = logging.getLogger(__name__)

Transport = Literal["ws", "http", "auto"]

_WS_HELLO_METHOD = "RPC.Ping"  # any request with our src subscribes us
_LOG_SNIPPET = 200


class ConnectionState(enum.StrEnum):
    """State of the WebSocket to the light."""

    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # lost; trying again with a backoff
    DISCONNECTED = "disconnected"  # lost, and reconnecting is off
    CLOSED = "closed"  # close() was called


@dataclass(frozen=True)
class ConnectionEvent:
    """A change of the WebSocket state. `attempt` counts failed reconnect attempts so far."""

    state: ConnectionState
    attempt: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Notification:
    """A notification frame pushed by the light (`NotifyStatus`, `NotifyEvent`, ...)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    src: str | None = None


NotificationCallback = Callable[[Notification], None]
ConnectionCallback = Callable[[ConnectionEvent], None]


_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused (is the light on, and is this its address?)",
    errno.ECONNRESET: "the connection was reset",
    errno.ENETUNREACH: "the network is unreachable (is this PC on the light's network?)",
    errno.EHOSTUNREACH: "the host is unreachable (is this PC on the light's network?)",
    errno.ETIMEDOUT: "the connection timed out",
}


def _describe_network_error(err: BaseException) -> str:
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return "the host name cannot be resolved"
    if isinstance(err, aiohttp.ClientConnectorError):
        err = err.os_error
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "the light closed the connection"
    if isinstance(err, OSError) and err.errno is not None:
        return _ERRNO_TEXT.get(err.errno) or os.strerror(err.errno)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err)
    return text or type(err).__name__


def _snippet(data: bytes | str) -> str:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return text if len(text) <= _LOG_SNIPPET else text[:_LOG_SNIPPET] + "..."


def _same_id(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int | float) and isinstance(b, int | float)
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


@dataclass
class _Exchange:
    """What went over the wire during one call (for the trace)."""

    request: dict[str, Any] = field(default_factory=dict)
    reply: dict[str, Any] | None = None


class DeviceClient:
    """MG-RPC client for one light (HubLight, Mongoose OS or Shelly Gen2).

    `session` is owned by the caller. `password` is the setup code on the access point, the LAN
    secret after pairing (None: no credentials). `timeout` applies to every call unless a call
    gives its own. `src` names this client in frames (a random `hub-...` by default). `trace` gets
    one `RpcTrace` per call. `transport` is the default for `call()`: "auto" uses the WebSocket
    when it is connected, HTTP otherwise. `backoff` paces WebSocket reconnects; `reconnect=False`
    turns them off.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int = 80,
        *,
        password: str | None = None,
        username: str = "admin",
        timeout: float = 10.0,
        src: str | None = None,
        trace: TraceCallback | None = None,
        transport: Transport = "auto",
        backoff: Backoff | None = None,
        reconnect: bool = True,
        ws_heartbeat: float | None = 20.0,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if transport not in ("ws", "http", "auto"):
            raise ValueError(f"unknown transport: {transport!r}")
        self._session = session
        self.host = host
        self.port = port
        self._username = username
        self._auth: DigestAuth | None = None
        self.set_password(password)
        self.timeout = timeout
        self.src = src or f"hub-{secrets.token_hex(4)}"
        self._trace = trace
        self._default_transport: Transport = transport
        self._reconnect_enabled = reconnect
        self._ws_heartbeat = ws_heartbeat
        self._ids = itertools.count(1)
        self.device_id: str | None = None
        """The light's id, learnt from the `src` of its replies."""

        base = URL.build(scheme="http", host=host, port=port)
        self._rpc_url = base.with_path("/rpc")
        self._ws_url = base.with_scheme("ws").with_path("/rpc")

        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._http_lock = asyncio.Lock()
        self._challenge_gate = asyncio.Lock()
        self._ws_send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._notification_callbacks: list[NotificationCallback] = []
        self._connection_callbacks: list[ConnectionCallback] = []
        self._reconnect_attempts = 0
        self._reconnector = Reconnector(
            self._reconnect_once, backoff=backoff, on_failure=self._on_reconnect_failure
        )
        self._ws_wanted = False
        self._closed = False

    def __repr__(self) -> str:
        return f"DeviceClient({self.host!r}, {self.port}, src={self.src!r})"

    @property
    def _where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # ----------------------------------------------------------------------------- credentials

    def set_password(self, password: str | None) -> None:
        """Use another password from now on (None: none). Forgets the current nonce."""
        self._auth = None if password is None else DigestAuth(self._username, password)

    @property
    def has_password(self) -> bool:
        """Whether credentials are set."""
        return self._auth is not None

    # -------------------------------------------------------------------------------- calls

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (per-call limit, as aioshelly)
        transport: Transport | None = None,
    ) -> Any:
        """Call `method` with `params` and return its result.

        Raises DeviceConnectionError, DeviceTimeoutError, AuthError, RpcError or BadReplyError.
        """
        return await self._call(method, params, limit=timeout, transport=transport)

    async def _call(
        self,
        method: str,
        params: dict[str, Any] | None,
        *,
        limit: float | None,
        transport: Transport | None,
        force_auth: bool = False,
    ) -> Any:
        if self._closed:
            raise RuntimeError("DeviceClient is closed")
        if not isinstance(method, str) or not method:
            raise TypeError("method must be a non-empty string")
        if params is not None and not isinstance(params, dict):
            raise TypeError("params must be a dict or None")
        limit = self.timeout if limit is None else limit
        use = self._choose_transport(transport)
        exchange = _Exchange()
        started, t0 = time.time(), time.monotonic()
        error: str | None = None
        try:
            async with asyncio.timeout(limit):
                if self._auth is not None and self._auth.challenge is None:
                    # The first authenticated call fetches the nonce alone: a burst of calls
                    # would each make the light issue a nonce, and it keeps only the last 16.
                    async with self._challenge_gate:
                        return await self._call_with_auth(
                            method, params, use, exchange, force_auth
                        )
                return await self._call_with_auth(method, params, use, exchange, force_auth)
        except TimeoutError:
            error = f"{self._where} did not answer {method} within {limit:g} s"
            raise DeviceTimeoutError(error) from None
        except DeviceError as err:
            error = str(err)
            raise
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        finally:
            if self._trace is not None:
                self._emit_trace(
                    RpcTrace(
                        method=method,
                        request=redact_frame(exchange.request),
                        reply=redact_frame(exchange.reply) if exchange.reply is not None else None,
                        transport=use,
                        started=started,
                        elapsed_s=time.monotonic() - t0,
                        error=error,
                    )
                )

    def _emit_trace(self, record: RpcTrace) -> None:
        assert self._trace is not None
        try:
            self._trace(record)
        except Exception:
            _LOGGER.exception("RPC trace callback failed")

    def _choose_transport(self, transport: Transport | None) -> Literal["ws", "http"]:
        wanted = transport or self._default_transport
        if wanted == "auto":
            return "ws" if self.ws_connected else "http"
        if wanted not in ("ws", "http"):
            raise ValueError(f"unknown transport: {wanted!r}")
        return wanted

    def _frame(
        self, method: str, params: dict[str, Any] | None, force_auth: bool
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "id": next(self._ids),
            "src": self.src,
            "method": method,
            "params": params if params is not None else {},
        }
        if self._auth is not None and self._auth.challenge is not None:
            frame["auth"] = self._auth.frame_auth()
        elif force_auth and self._auth is not None:
            frame["auth"] = {}  # makes the light answer with a challenge
        return frame

    async def _call_with_auth(
        self,
        method: str,
        params: dict[str, Any] | None,
        transport: Literal["ws", "http"],
        exchange: _Exchange,
        force_auth: bool,
    ) -> Any:
        used: list[Challenge | None] = [None]

        def build() -> dict[str, Any]:
            used[0] = self._auth.challenge if self._auth is not None else None
            frame = self._frame(method, params, force_auth)
            exchange.request, exchange.reply = frame, None
            return frame

        for attempt in range(2):
            if transport == "ws":
                frame, reply = await self._send_ws(build)
                header_challenge = None
            else:
                frame, reply, header_challenge = await self._send_http(build)
            exchange.reply = reply
            self._check_reply(reply, frame["id"], method)
            src = reply.get("src")
            if isinstance(src, str) and src:
                self.device_id = src
            error = reply.get("error")
            if error is None or error["code"] == 0:
                return reply.get("result")
            code, message = error["code"], error.get("message") or ""
            if code == 401:
                if self._auth is None:
                    raise AuthError(
                        "missing_credentials",
                        f"{self._where} needs a password for {method} "
                        "(the setup code on its label, or its LAN secret once paired)",
                    )
                if attempt == 1:
                    raise AuthError(
                        "wrong_credentials", f"{self._where} refused the password for {method}"
                    )
                if self._auth.challenge is used[0]:
                    self._auth.update(self._challenge_from(message, header_challenge))
                # else another call has already renewed the nonce since: retry with that one
                continue
            if code == 429:
                raise AuthError(
                    "rate_limited",
                    f"{self._where} refuses requests for now (too many failed attempts or "
                    f"requests; try again in about 30 s): {message}",
                )
            raise RpcError(code, message, method)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _challenge_from(message: str, header: Challenge | None) -> Challenge:
        try:
            return parse_challenge_message(message)
        except BadReplyError:
            if header is not None:
                return header
            raise

    @staticmethod
    def _check_reply(reply: dict[str, Any], request_id: int, method: str) -> None:
        if not _same_id(reply.get("id"), request_id):
            raise BadReplyError(
                f"reply to {method} has id {reply.get('id')!r}, expected {request_id}"
            )
        error = reply.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            if isinstance(code, bool) or not isinstance(code, int):
                raise BadReplyError(
                    f"reply to {method} has a malformed error: {_snippet(str(error))}"
                )
            message = error.get("message")
            if message is not None and not isinstance(message, str):
                error["message"] = json.dumps(message)

    # ---------------------------------------------------------------------------------- HTTP

    async def _send_http(
        self, build: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any], Challenge | None]:
        """-> (frame sent, reply frame, challenge from WWW-Authenticate).

        One request at a time per client: the light takes few connections (8), and a nonce's `nc`
        must reach it in increasing order, which concurrent connections cannot promise. Use the
        WebSocket for many calls at once.
        """
        try:
            async with self._http_lock:
                frame = build()
                async with self._session.post(
                    self._rpc_url,
                    data=json.dumps(frame).encode(),
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    www_authenticate = resp.headers.get("WWW-Authenticate")
        except TimeoutError:
            raise
        except aiohttp.ClientConnectionError as err:
            raise DeviceConnectionError(
                f"cannot reach {self._where}: {_describe_network_error(err)}"
            ) from None
        except aiohttp.ClientError as err:
            raise BadReplyError(f"{self._where} sent a broken HTTP reply: {err}") from None
        header_challenge: Challenge | None = None
        if status == 401 and www_authenticate:
            try:
                header_challenge = parse_www_authenticate(www_authenticate)
            except BadReplyError as err:
                _LOGGER.debug("ignoring WWW-Authenticate from %s: %s", self._where, err)
        try:
            reply = self._parse_frame(raw)
        except BadReplyError:
            if status in (401, 413, 429):
                reply = {
                    "id": frame["id"],
                    "error": {"code": status, "message": "" if status != 413 else "too large"},
                }
            elif status != 200:
                raise BadReplyError(
                    f"{self._where} answered HTTP {status} without an RPC frame "
                    "(is this an MG-RPC device?)"
                ) from None
            else:
                raise
        return frame, reply, header_challenge

    def _parse_frame(self, raw: bytes | str) -> dict[str, Any]:
        try:
            frame = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise BadReplyError(
                f"{self._where} sent a reply that is not JSON: {_snippet(raw)!r}"
            ) from None
        if not isinstance(frame, dict):
            raise BadReplyError(
                f"{self._where} sent a reply that is not a JSON object: {_snippet(raw)!r}"
            )
        return frame

    # ----------------------------------------------------------------------------- WebSocket

    @property
    def ws_connected(self) -> bool:
        """Whether the WebSocket is open."""
        return self._ws is not None and not self._ws.closed

    async def connect_ws(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Open the WebSocket (notifications; calls go over it with transport "auto" / "ws").

        A lost socket is reopened in the background until `close()`; see `subscribe_connection`.
        """
        if self._closed:
            raise RuntimeError("DeviceClient is closed")
        if self.ws_connected:
            return
        self._ws_wanted = True
        await self._reconnector.stop()
        await self._open_ws(timeout)
        self._reconnect_attempts = 0
        self._emit_connection(ConnectionEvent(ConnectionState.CONNECTED))

    async def _open_ws(self, limit: float | None = None) -> None:
        limit = self.timeout if limit is None else limit
        try:
            async with asyncio.timeout(limit):
                ws = await self._session.ws_connect(
                    self._ws_url, heartbeat=self._ws_heartbeat, autoping=True
                )
        except TimeoutError:
            raise DeviceTimeoutError(
                f"{self._where} did not accept a WebSocket within {limit:g} s"
            ) from None
        except aiohttp.WSServerHandshakeError as err:
            raise DeviceConnectionError(
                f"{self._where} refused the WebSocket (HTTP {err.status})"
            ) from None
        except aiohttp.ClientError as err:
            raise DeviceConnectionError(
                f"cannot reach {self._where}: {_describe_network_error(err)}"
            ) from None
        if self._closed:
            await ws.close()
            raise RuntimeError("DeviceClient is closed")
        self._ws = ws
        task = asyncio.get_running_loop().create_task(
            self._receive_loop(ws), name=f"device-ws-{self._where}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            await self._ws_hello(limit)
        except DeviceError:
            self._ws = None
            await ws.close()
            raise

    async def _ws_hello(self, limit: float) -> None:
        """Send one request with our `src` so that the light pushes notifications to us."""
        try:
            await self._call(
                _WS_HELLO_METHOD, None, limit=limit, transport="ws"
            )
        except (RpcError, AuthError, BadReplyError) as err:
            # The socket is up; a device without this method or refusing the password still
            # registered our src. Calls will report the problem themselves.
            _LOGGER.debug("WebSocket hello to %s: %s", self._where, err)

    async def _send_ws(
        self, build: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """-> (frame sent, reply frame). Frames are built and sent in order (increasing `nc`)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise DeviceConnectionError(f"the WebSocket to {self._where} is not connected")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        request_id: int | None = None
        try:
            async with self._ws_send_lock:
                frame = build()
                request_id = frame["id"]
                self._pending[frame["id"]] = future
                try:
                    await ws.send_str(json.dumps(frame))
                except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
                    raise DeviceConnectionError(
                        f"the WebSocket to {self._where} failed: {_describe_network_error(err)}"
                    ) from None
            return frame, await future
        finally:
            if request_id is not None:
                self._pending.pop(request_id, None)

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The one reader of the socket: replies to futures, notifications to subscribers."""
        reason = "connection closed by the light"
        try:
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._handle_ws_message(message.data)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    reason = f"WebSocket error: {ws.exception()}"
                    break
        except asyncio.CancelledError:
            raise
        except Exception as err:  # never let the reader die silently
            reason = f"WebSocket failed: {_describe_network_error(err)}"
            _LOGGER.exception("WebSocket receive loop of %s failed", self._where)
        finally:
            if self._ws is ws:
                self._ws = None
            if not ws.closed:
                await asyncio.shield(ws.close())
            self._fail_pending(DeviceConnectionError(f"{self._where}: {reason}"))
        if self._ws_wanted and not self._closed:
            _LOGGER.info("WebSocket to %s lost: %s", self._where, reason)
            if self._reconnect_enabled:
                self._reconnect_attempts = 0
                self._emit_connection(ConnectionEvent(ConnectionState.RECONNECTING, 0, reason))
                self._reconnector.start()
            else:
                self._ws_wanted = False
                self._emit_connection(ConnectionEvent(ConnectionState.DISCONNECTED, 0, reason))

    def _handle_ws_message(self, data: str | bytes) -> None:
        try:
            frame = self._parse_frame(data)
        except BadReplyError as err:
            _LOGGER.warning("ignoring a malformed WebSocket frame: %s", err)
            return
        if "method" in frame:
            self._handle_notification(frame)
            return
        frame_id = frame.get("id")
        future = (
            self._pending.get(frame_id)
            if isinstance(frame_id, int) and not isinstance(frame_id, bool)
            else None
        )
        if future is None:
            _LOGGER.debug("dropping a WebSocket frame that answers no call: %s", _snippet(
                json.dumps(redact_frame(frame))))
            return
        if not future.done():
            future.set_result(frame)

    def _handle_notification(self, frame: dict[str, Any]) -> None:
        method = frame.get("method")
        if frame.get("id") is not None or not isinstance(method, str):
            _LOGGER.debug("ignoring a request frame from %s: %s", self._where, method)
            return
        params = frame.get("params")
        if params is None:
            params = frame.get("args")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            _LOGGER.warning("ignoring notification %s with non-object params", method)
            return
        src = frame.get("src")
        notification = Notification(method, params, src if isinstance(src, str) else None)
        for callback in list(self._notification_callbacks):
            try:
                callback(notification)
            except Exception:
                _LOGGER.exception("notification callback failed")

    def _fail_pending(self, error: DeviceError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    async def _reconnect_once(self) -> None:
        if self._closed:
            return
        await self._open_ws()
        attempts, self._reconnect_attempts = self._reconnect_attempts, 0
        _LOGGER.info("WebSocket to %s reconnected", self._where)
        self._emit_connection(ConnectionEvent(ConnectionState.CONNECTED, attempts))

    def _on_reconnect_failure(self, attempt: int, error: BaseException) -> None:
        self._reconnect_attempts = attempt
        self._emit_connection(ConnectionEvent(ConnectionState.RECONNECTING, attempt, str(error)))

    # ---------------------------------------------------------------------------- subscribers

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        """Call `callback(Notification)` for every notification; returns the unsubscribe."""
        self._notification_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._notification_callbacks:
                self._notification_callbacks.remove(callback)

        return unsubscribe

    def subscribe_connection(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Call `callback(ConnectionEvent)` on WebSocket state changes; returns the unsubscribe."""
        self._connection_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._connection_callbacks:
                self._connection_callbacks.remove(callback)

        return unsubscribe

    def _emit_connection(self, event: ConnectionEvent) -> None:
        for callback in list(self._connection_callbacks):
            try:
                callback(event)
            except Exception:
                _LOGGER.exception("connection callback failed")

    # -------------------------------------------------------------------------------- close

    async def close(self) -> None:
        """Close the WebSocket and stop every task this client started. The session stays open."""
        if self._closed:
            return
        self._closed = True
        was_wanted, self._ws_wanted = self._ws_wanted, False
        await self._reconnector.stop()
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:
                async with asyncio.timeout(self.timeout):
                    await ws.close()
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_pending(DeviceConnectionError(f"the client of {self._where} was closed"))
        if was_wanted:
            self._emit_connection(ConnectionEvent(ConnectionState.CLOSED))

    async def __aenter__(self) -> DeviceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --------------------------------------------------------------------- typed helpers

    async def _call_dict(self, method: str, params: dict[str, Any] | None = None,
                         **kwargs: Any) -> dict[str, Any]:
        result = await self._call(
            method, params, limit=kwargs.get("timeout"), transport=kwargs.get("transport"),
            force_auth=kwargs.get("force_auth", False),
        )
        if not isinstance(result, dict):
            raise BadReplyError(f"{method} returned {type(result).__name__}, expected an object")
        return result

    async def get_info(self) -> dict[str, Any]:
        """`Sys.GetInfo`: the full info with credentials, the reduced one without."""
        return await self._call_dict("Sys.GetInfo", force_auth=True)

    async def get_status(self) -> dict[str, Any]:
        """`Light.GetStatus`: {on, brightness, rgb, transition_ms, rev, source}."""
        return await self._call_dict("Light.GetStatus")

    async def set_light(
        self,
        *,
        on: bool | None = None,
        brightness: int | None = None,
        rgb: tuple[int, int, int] | list[int] | None = None,
        transition_ms: int | None = None,
    ) -> dict[str, Any]:
        """`Light.Set`: change the given fields; returns the new light status."""
        if on is None and brightness is None and rgb is None:
            raise TypeError("set_light needs at least one of on, brightness, rgb")
        params: dict[str, Any] = {}
        if on is not None:
            params["on"] = on
        if brightness is not None:
            params["brightness"] = brightness
        if rgb is not None:
            params["rgb"] = list(rgb)
        if transition_ms is not None:
            params["transition_ms"] = transition_ms
        return await self._call_dict("Light.Set", params)

    async def wifi_scan(
        self, *, timeout: float | None = None  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """`Wifi.Scan`: networks the light sees, strongest first (also Shelly's `WiFi.Scan`
        form `{"results": [...]}`)."""
        result = await self.call("Wifi.Scan", timeout=timeout)
        if isinstance(result, dict) and isinstance(result.get("results"), list):
            result = result["results"]
        if not isinstance(result, list) or not all(isinstance(n, dict) for n in result):
            raise BadReplyError("Wifi.Scan did not return a list of networks")
        return result

    async def wifi_status(self) -> dict[str, Any]:
        """`Wifi.GetStatus`: {status, reason, ssid, sta_ip, ap_ip, setup_state, ...}."""
        return await self._call_dict("Wifi.GetStatus")

    async def config_get(self, key: str | None = None) -> Any:
        """`Config.Get`: the whole tree, or the subtree / value at dotted `key`."""
        return await self.call("Config.Get", {} if key is None else {"key": key})

    async def config_set(
        self, config: dict[str, Any], *, save: bool = False, reboot: bool = False
    ) -> dict[str, Any]:
        """`Config.Set`: merge a partial tree; -> {saved, restart_required}."""
        params: dict[str, Any] = {"config": config}
        if save:
            params["save"] = True
        if reboot:
            params["reboot"] = True
        return await self._call_dict("Config.Set", params)

    async def config_save(self, *, reboot: bool = False) -> dict[str, Any]:
        """`Config.Save`: persist the config; with `reboot` the light reboots after replying."""
        return await self._call_dict("Config.Save", {"reboot": reboot})

    async def reboot(self, *, delay_ms: int | None = None) -> None:
        """`Sys.Reboot`: the light reboots after replying."""
        await self.call("Sys.Reboot", None if delay_ms is None else {"delay_ms": delay_ms})
