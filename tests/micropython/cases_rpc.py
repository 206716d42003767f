"""Frame parsing, dispatch, error replies and the authentication gate."""

import json

from hublight.auth import DigestAuth
from hublight.rpc import AUTH_NONE, AUTH_OPTIONAL, Rpc, RpcError
from mpcheck import FakeClock, MemoryLog

DEVICE = "hublight-1a2b3c"


def make(with_auth=False):
    log = MemoryLog()
    auth = None
    if with_auth:
        clock = FakeClock()
        auth = DigestAuth(DEVICE, clock.ticks_ms, clock.ticks_diff, lambda: ["ABCD2345"],
                          lambda: True, log.buf)
    rpc = Rpc(DEVICE, auth, log.buf)

    def echo(params, ctx):
        return params

    async def slow(params, ctx):
        return {"async": True}

    def bad(params, ctx):
        raise RpcError(409, "conflict here")

    def crash(params, ctx):
        raise KeyError("boom")

    def who(params, ctx):
        return {"authenticated": ctx["authenticated"]}

    rpc.register("Test.Echo", echo, auth=AUTH_NONE)
    rpc.register("Test.Async", slow, auth=AUTH_NONE)
    rpc.register("Test.Bad", bad, auth=AUTH_NONE)
    rpc.register("Test.Crash", crash, auth=AUTH_NONE)
    rpc.register("Test.Who", who, auth=AUTH_OPTIONAL)
    rpc.register("Test.Secret", echo)
    return rpc, log


async def test_success_reply_echoes_id_src_tag():
    rpc, _ = make()
    reply = await rpc.dispatch({"id": 7, "src": "hub", "tag": "t1", "method": "Test.Echo",
                                "params": {"a": 1}}, {})
    assert reply == {"id": 7, "src": DEVICE, "dst": "hub", "tag": "t1", "result": {"a": 1}}
    reply = await rpc.dispatch({"id": "x", "method": "Test.Async"}, {})
    assert reply["id"] == "x" and reply["result"] == {"async": True}


async def test_args_is_the_old_name_and_params_wins():
    rpc, _ = make()
    reply = await rpc.dispatch({"id": 1, "method": "Test.Echo", "args": {"old": 1}}, {})
    assert reply["result"] == {"old": 1}
    reply = await rpc.dispatch({"id": 1, "method": "Test.Echo", "args": {"old": 1},
                                "params": {"new": 2}}, {})
    assert reply["result"] == {"new": 2}


async def test_errors_become_replies():
    rpc, log = make()
    reply = await rpc.dispatch({"id": 2, "method": "Test.Bad"}, {})
    assert reply["error"] == {"code": 409, "message": "conflict here"}
    reply = await rpc.dispatch({"id": 3, "method": "Test.Crash"}, {})
    assert reply["error"]["code"] == 500
    assert "KeyError" in log.text()
    reply = await rpc.dispatch({"id": 4, "method": "No.Such"}, {})
    assert reply["error"]["code"] == 404 and "No.Such" in reply["error"]["message"]
    reply = await rpc.dispatch({"id": 5, "method": "Test.Echo", "params": [1]}, {})
    assert reply["error"]["code"] == 400


async def test_bad_frames():
    rpc, _ = make()
    assert (await rpc.dispatch("{not json", {}))["error"]["code"] == 400
    assert (await rpc.dispatch(b"[1, 2]", {}))["error"]["code"] == 400
    assert (await rpc.dispatch(b"\xff\xfe", {}))["error"]["code"] == 400
    assert (await rpc.dispatch({"id": 1, "method": 5}, {}))["error"]["code"] == 400
    assert (await rpc.dispatch({"id": [1], "method": "Test.Echo"}, {}))["error"]["code"] == 400
    assert (await rpc.dispatch({"id": 1, "src": 5, "method": "Test.Echo"}, {}))["error"][
        "code"] == 400
    reply = await rpc.dispatch(json.dumps({"id": 9, "method": "Test.Echo"}), {})
    assert reply["result"] == {}


async def test_notifications_and_foreign_dst_get_no_reply():
    rpc, _ = make()
    assert await rpc.dispatch({"method": "Test.Echo"}, {}) is None
    assert await rpc.dispatch({"method": "Test.Crash"}, {}) is None
    assert await rpc.dispatch({"id": 1, "dst": "hublight-ffffff", "method": "Test.Echo"},
                              {}) is None
    reply = await rpc.dispatch({"id": 1, "dst": DEVICE, "method": "Test.Echo"}, {})
    assert reply["result"] == {}
    assert await rpc.dispatch({"id": 1, "result": 5}, {}) is None  # a response frame


async def test_auth_gate():
    rpc, _ = make(with_auth=True)
    reply = await rpc.dispatch({"id": 1, "method": "Test.Secret"}, {"transport": "http"})
    assert reply["error"]["code"] == 401
    challenge = json.loads(reply["error"]["message"])
    assert challenge["realm"] == DEVICE
    reply = await rpc.dispatch({"id": 1, "method": "Test.Who"}, {"transport": "http"})
    assert reply["result"] == {"authenticated": False}
    # MQTT is authorised by the broker
    reply = await rpc.dispatch({"id": 1, "src": "hub", "method": "Test.Secret"},
                               {"transport": "mqtt"})
    assert reply["result"] == {}
    # wrong frame auth on an optional method is still a 401
    reply = await rpc.dispatch({"id": 1, "method": "Test.Who", "auth": {"nonce": 1}},
                               {"transport": "http"})
    assert reply["error"]["code"] == 401


async def test_shutting_down_is_418():
    rpc, _ = make()
    rpc.shutting_down = True
    reply = await rpc.dispatch({"id": 1, "method": "Test.Echo"}, {})
    assert reply["error"]["code"] == 418
