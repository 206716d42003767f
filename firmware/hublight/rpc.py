"""MG-RPC frames: parsing, the method registry, authentication gate and dispatch.

``await Rpc.dispatch(frame, ctx)`` is the single entry point of every transport (HTTP, WebSocket,
MQTT). It never raises: every failure becomes an error reply frame.
"""

import json

try:
    from typing import TYPE_CHECKING, Any
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.auth import DigestAuth
    from hublight.logbuf import LogBuffer

AUTH_REQUIRED = "required"
AUTH_OPTIONAL = "optional"  # the handler sees ctx["authenticated"] and decides (Sys.GetInfo)
AUTH_NONE = "none"

FRAME_FIELDS = ("v", "id", "src", "dst", "tag", "method", "params", "args", "auth", "result",
                "error", "key")


class RpcError(Exception):
    """An error reply: ``code`` as in protocol.md, ``message`` for humans."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Method:
    def __init__(self, name: str, handler: Any, auth: str, args_fmt: str) -> None:
        self.name = name
        self.handler = handler
        self.auth = auth
        self.args_fmt = args_fmt


class Rpc:
    """Method registry and dispatcher of one light."""

    def __init__(self, device_id: str, auth: "DigestAuth | None", log: "LogBuffer") -> None:
        self.device_id = device_id
        self.auth = auth
        self.log = log
        self.methods: dict[str, Method] = {}
        self.shutting_down = False

    def register(self, name: str, handler: Any, auth: str = AUTH_REQUIRED,
                 args_fmt: str = "{}") -> None:
        """Add a method. ``handler(params, ctx)`` may be sync or async; its return value is the
        result, RpcError becomes an error reply."""
        self.methods[name] = Method(name, handler, auth, args_fmt)

    def names(self) -> list[str]:
        return sorted(self.methods)

    def reply(self, frame: dict[str, Any], result: Any = None,
              error: "RpcError | None" = None) -> dict[str, Any]:
        """Build a reply to ``frame`` (echoing id, tag; dst = its src)."""
        out: dict[str, Any] = {"id": frame.get("id"), "src": self.device_id}
        src = frame.get("src")
        if isinstance(src, str) and src:
            out["dst"] = src
        if "tag" in frame:
            out["tag"] = frame["tag"]
        if error is None:
            out["result"] = result
        else:
            out["error"] = {"code": error.code, "message": error.message}
        return out

    async def dispatch(self, frame: Any, ctx: "dict[str, Any] | None" = None) -> Any:
        """Handle one request frame (a dict, or JSON text/bytes). -> reply frame or None (for
        notifications and frames addressed to another device). Never raises."""
        if ctx is None:
            ctx = {}
        try:
            return await self._dispatch(frame, ctx)
        except Exception as exc:  # the last line of defence: a reply, never a dead loop
            self.log.exception("rpc: internal error", exc)
            base = frame if isinstance(frame, dict) else {}
            return self.reply(base, error=RpcError(500, "internal error"))

    async def _dispatch(self, frame: Any, ctx: dict[str, Any]) -> Any:
        if isinstance(frame, (bytes, bytearray, memoryview)):
            try:
                frame = bytes(frame).decode()
            except UnicodeError:
                return self.reply({}, error=RpcError(400, "frame is not UTF-8"))
        if isinstance(frame, str):
            try:
                frame = json.loads(frame)
            except ValueError:
                return self.reply({}, error=RpcError(400, "frame is not valid JSON"))
        if not isinstance(frame, dict):
            return self.reply({}, error=RpcError(400, "frame must be a JSON object"))
        dst = frame.get("dst")
        if dst is not None and dst != "" and dst != self.device_id:
            return None
        problem = self._check_fields(frame)
        has_id = frame.get("id") is not None
        if problem is not None:
            if problem.startswith("id:"):
                return self.reply({}, error=RpcError(400, problem))
            if not has_id:
                return None  # a notification gets no reply, not even an error
            safe = {"id": frame["id"]}
            if isinstance(frame.get("src"), str):
                safe["src"] = frame["src"]
            if "tag" in frame:
                safe["tag"] = frame["tag"]
            return self.reply(safe, error=RpcError(400, problem))
        if "method" not in frame:
            return None  # a response frame: nothing to answer
        try:
            result = await self._call(frame, ctx)
            reply = self.reply(frame, result=result)
        except RpcError as err:
            reply = self.reply(frame, error=err)
        except Exception as exc:
            self.log.exception("rpc: %s failed" % frame.get("method"), exc)
            reply = self.reply(frame, error=RpcError(500, "internal error in %s" %
                                                     frame.get("method")))
        return reply if has_id else None

    def _check_fields(self, frame: dict[str, Any]) -> "str | None":
        if "method" in frame and not isinstance(frame["method"], str):
            return "method: must be a string"
        fid = frame.get("id")
        if fid is not None and (fid is True or fid is False or
                                not isinstance(fid, (int, float, str))):
            return "id: must be a number or a string"
        if "src" in frame and frame["src"] is not None and not isinstance(frame["src"], str):
            return "src: must be a string"
        if "dst" in frame and frame["dst"] is not None and not isinstance(frame["dst"], str):
            return "dst: must be a string"
        if "auth" in frame and frame["auth"] is not None and not isinstance(frame["auth"], dict):
            return "auth: must be an object"
        return None

    async def _call(self, frame: dict[str, Any], ctx: dict[str, Any]) -> Any:
        name = frame["method"]
        method = self.methods.get(name)
        if method is None:
            raise RpcError(404, "no such method: %s" % name)
        if self.shutting_down:
            raise RpcError(418, "shutting down: a reboot is pending")
        params = frame.get("params")
        if params is None:
            params = frame.get("args")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(400, "params: must be an object")
        call_ctx = dict(ctx)
        call_ctx["authenticated"] = self._authenticate(method, frame, ctx)
        call_ctx["src"] = frame.get("src")
        result = method.handler(params, call_ctx)
        if hasattr(result, "send"):  # a coroutine (MicroPython coroutines are generators)
            result = await result
        return result

    def _authenticate(self, method: Method, frame: dict[str, Any], ctx: dict[str, Any]) -> bool:
        """-> whether the caller is authenticated; raises the 401/429 for required methods."""
        if method.auth == AUTH_NONE:
            return False
        if ctx.get("transport") == "mqtt" and frame.get("auth") is None:
            return True  # authorised by the broker
        if self.auth is None:
            return True
        try:
            self.auth.check_request(frame.get("auth"), ctx.get("http"), ctx.get("peer"))
            return True
        except RpcError:
            if method.auth == AUTH_OPTIONAL and frame.get("auth") is None and \
                    not (ctx.get("http") or {}).get("authorization"):
                return False
            raise
