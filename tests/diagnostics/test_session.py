"""DeviceDiagnostics against a simulated light running the real firmware (real HTTP/WebSocket)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from hublight_sim.board import make_sim_image

from hub_app.device import RpcError
from hub_app.diagnostics import ConfigChange, DeviceDiagnostics
from hub_app.diagnostics.firmware_server import FirmwareServer, sha256_file


async def test_console_call_valid_and_invalid_json(diagnostics: DeviceDiagnostics) -> None:
    methods = await diagnostics.list_methods()
    assert {"Sys.GetInfo", "Config.Get", "OTA.Update", "RPC.Ping"} <= set(methods)
    entry = await diagnostics.console_call("Config.Get", '{"key": "device"}')
    assert entry.ok and entry.result["id"] == diagnostics.device_id
    assert entry.traces and entry.traces[-1].reply is not None
    assert '"method": "Config.Get"' in entry.request_text()
    assert diagnostics.known_secrets[0] not in entry.request_text()
    assert entry.elapsed_ms is not None and entry.elapsed_ms > 0
    calls_before = len(diagnostics.rpc_log.entries)
    with pytest.raises(ValueError, match="Not valid JSON"):
        await diagnostics.console_call("Config.Get", '{"key": ')
    assert len(diagnostics.rpc_log.entries) == calls_before  # nothing sent
    failed = await diagnostics.console_call("No.Such", "")
    assert not failed.ok and "404" in (failed.error or "")


async def test_log_polls_continue(diagnostics: DeviceDiagnostics) -> None:
    first = await diagnostics.poll_log()
    assert first, "a booted light has log lines"
    await diagnostics.apply_config([ConfigChange("device.name", "", "Log me")])  # logs a line
    second = await diagnostics.poll_log()
    assert all(line.seq > first[-1].seq for line in second)


async def test_config_apply_only_changes_and_bad_key(diagnostics: DeviceDiagnostics) -> None:
    config = await diagnostics.get_config()
    assert config["device"]["id"] == diagnostics.device_id
    result = await diagnostics.apply_config([ConfigChange("device.name", "", "Desk lamp")])
    assert result["saved"] is True
    assert diagnostics.config is not None and diagnostics.config["device"]["name"] == "Desk lamp"
    with pytest.raises(RpcError) as caught:
        await diagnostics.apply_config([ConfigChange("device.id", "x", "hublight-000000")])
    assert caught.value.code == 403 and "device.id" in caught.value.message


async def test_ping_and_signal(diagnostics: DeviceDiagnostics) -> None:
    seen: list[int] = []
    stats = await diagnostics.ping(5, 0.0, on_sample=lambda s: seen.append(s.sent))
    assert seen == [1, 2, 3, 4, 5]
    assert stats.sent == 5 and stats.lost == 0 and len(stats.samples_ms) == 5
    ok, text = await diagnostics.broker_check()
    assert ok is None and "directly" in text
    assert diagnostics.mdns_check()[0] is None


async def test_firmware_update_from_file_then_commit(lan_diagnostics: DeviceDiagnostics,
                                                     tmp_path: Path) -> None:
    diagnostics = lan_diagnostics
    image = tmp_path / "hublight-0.9.0.bin"
    image.write_bytes(make_sim_image("0.9.0", b"new firmware " * 500))
    before = await diagnostics.get_boot_state()
    assert before.fw_version != "0.9.0"
    progress: list[int] = []
    state = await diagnostics.update_firmware(
        path=image, commit_timeout=120, on_progress=lambda pct, _text: progress.append(pct))
    assert state.fw_version == "0.9.0" and not state.is_committed
    assert state.commit_timeout == 120 and progress[-1] == 100
    committed = await diagnostics.commit()
    assert committed.is_committed and committed.fw_version == "0.9.0"
    info, _ = await diagnostics.refresh_info()
    assert info["fw_version"] == "0.9.0"


async def test_firmware_server_serves_one_file(tmp_path: Path) -> None:
    import aiohttp

    data = b"x" * 5000
    path = tmp_path / "fw.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    server = FirmwareServer(path, "127.0.0.1")
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 200 and await response.read() == data
            async with session.get(url.rsplit("/", 2)[0] + "/other/fw.bin") as response:
                assert response.status == 404
    finally:
        await server.stop()
    assert server.bytes_sent == len(data)


async def test_export_report_has_no_secret(diagnostics: DeviceDiagnostics,
                                           tmp_path: Path) -> None:
    await diagnostics.refresh_info()
    await diagnostics.get_config()
    await diagnostics.poll_log()
    await diagnostics.console_call("Sys.GetInfo", "")
    path = await diagnostics.export_report(tmp_path / "report.zip")
    with zipfile.ZipFile(path) as archive:
        text = "".join(archive.read(n).decode() for n in archive.namelist())
    assert diagnostics.device_id in text
    code = diagnostics.known_secrets[0]
    for spelling in (code, code.lower(), f"{code[:4]}-{code[4:]}"):
        assert spelling not in text
