"""OTA: download over HTTP(S), verify sha256, stage in the other slot, commit or roll back.

The boot record ``ota.json`` (atomic) holds {pending, slot, revert_slot, commit_timeout, booted,
last_error}. A new image must be committed (``OTA.Commit``) within ``commit_timeout`` seconds of
its first boot; a second boot while still pending (a crash or power cut in the window) or the
deadline passing rolls back to ``revert_slot`` and reboots.
"""

import asyncio
import binascii
import hashlib

from hublight.rpc import RpcError

try:
    from typing import TYPE_CHECKING, Any
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.app import LightApp

STATE_FILE = "ota.json"
CHUNK = 2048
MAX_HEADER_LINES = 64
IO_TIMEOUT_S = 30


def parse_url(url: str) -> "tuple[bool, str, int, str]":
    """-> (tls, host, port, path) of an http(s) URL; ValueError when malformed."""
    if url.startswith("http://"):
        tls = False
        rest = url[7:]
    elif url.startswith("https://"):
        tls = True
        rest = url[8:]
    else:
        raise ValueError("only http:// and https:// URLs are supported")
    slash = rest.find("/")
    hostport = rest if slash < 0 else rest[:slash]
    path = "/" if slash < 0 else rest[slash:]
    if "@" in hostport:
        raise ValueError("credentials in the URL are not supported")
    port = 443 if tls else 80
    host = hostport
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("bad IPv6 address")
        host = hostport[1:end]
        if hostport[end + 1 : end + 2] == ":":
            port = int(hostport[end + 2 :])
    elif ":" in hostport:
        host, _, port_text = hostport.partition(":")
        port = int(port_text)
    if not host or port < 1 or port > 65535:
        raise ValueError("bad host or port")
    return tls, host, port, path


class OtaError(Exception):
    pass


class Ota:
    """Firmware updates of one light."""

    def __init__(self, app: "LightApp") -> None:
        self.app = app
        self.board = app.board
        self.log = app.log
        self.record: dict[str, Any] = {"pending": False, "slot": None, "revert_slot": None,
                                       "commit_timeout": 0, "booted": False, "last_error": None}
        self.busy = False
        self.task: Any = None

    # --- boot record ----------------------------------------------------------------------
    def load(self) -> None:
        saved = self.app.store.load(STATE_FILE, None)
        if isinstance(saved, dict):
            for key in self.record:
                if key in saved:
                    self.record[key] = saved[key]

    def save(self) -> None:
        self.app.store.save(STATE_FILE, self.record)

    def is_committed(self) -> bool:
        return not self.record["pending"]

    def boot_state(self) -> dict[str, Any]:
        """``OTA.GetBootState`` result."""
        return {"active_slot": self.board.ota_running_slot(), "is_committed": self.is_committed(),
                "revert_slot": self.record["revert_slot"],
                "commit_timeout": self.record["commit_timeout"],
                "fw_version": self.board.fw_version(), "last_error": self.record["last_error"]}

    def boot_check(self) -> bool:
        """Called once at boot. -> True when the light must revert and reboot right away."""
        self.load()
        if not self.record["pending"]:
            return False
        running = self.board.ota_running_slot()
        if running != self.record["slot"]:
            # The boot loader refused the new image: we are on the old one already.
            self.log.warn("ota: new image in slot %s did not boot" % self.record["slot"])
            self.record["pending"] = False
            self.record["last_error"] = "new image did not boot"
            self.record["revert_slot"] = None
            self.save()
            return False
        if self.record["booted"]:
            self.log.warn("ota: rebooted before the update was committed, rolling back")
            self._mark_reverted("not committed (rebooted during the commit window)")
            return True
        self.record["booted"] = True
        self.save()
        self.log.info("ota: running new image, commit within %d s" %
                      self.record["commit_timeout"])
        return False

    def _mark_reverted(self, why: str) -> None:
        slot = self.record["revert_slot"]
        if slot is not None:
            self.board.ota_set_boot(slot)
        self.record["pending"] = False
        self.record["booted"] = False
        self.record["revert_slot"] = None
        self.record["last_error"] = why
        self.save()

    async def commit_watchdog(self) -> None:
        """While pending: roll back when the commit timeout passes."""
        if not self.record["pending"]:
            return
        await asyncio.sleep(self.record["commit_timeout"])
        if self.record["pending"]:
            self.log.warn("ota: not committed within %d s, rolling back" %
                          self.record["commit_timeout"])
            self._mark_reverted("not committed within %d s" % self.record["commit_timeout"])
            self.app.request_reboot(0, "ota_rollback")

    # --- OTA.Commit / OTA.Revert ----------------------------------------------------------
    def commit(self) -> None:
        if not self.record["pending"]:
            raise RpcError(409, "nothing to commit")
        self.record["pending"] = False
        self.record["booted"] = False
        self.record["last_error"] = None
        self.save()
        self.log.info("ota: committed %s" % self.board.fw_version())

    def revert(self) -> None:
        if self.record["revert_slot"] is None or self.busy:
            raise RpcError(409, "no previous firmware to revert to")
        self._mark_reverted("reverted by request")
        self.app.request_reboot(500, "ota_revert")

    # --- OTA.Update -----------------------------------------------------------------------
    def start_update(self, url: str, sha256_hex: str, commit_timeout: int) -> None:
        if self.busy:
            raise RpcError(409, "an update is already in progress")
        if self.record["pending"]:
            raise RpcError(409, "commit or revert the running update first")
        try:
            parse_url(url)
        except ValueError as exc:
            raise RpcError(400, "url: %s" % exc)
        self.busy = True
        self.task = self.app.spawn(self._update(url, sha256_hex, commit_timeout))

    async def _update(self, url: str, sha256_hex: str, commit_timeout: int) -> None:
        try:
            slot = await self._download(url, sha256_hex)
        except Exception as exc:
            message = str(exc) if isinstance(exc, OtaError) else "%s: %s" % (
                type(exc).__name__, exc)
            self.log.error("ota: update failed: %s" % message)
            self.record["last_error"] = message
            self.save()
            self.app.notify_event("ota_failed", {"message": message})
            self.busy = False
            return
        self.record["pending"] = True
        self.record["slot"] = slot
        self.record["revert_slot"] = self.board.ota_running_slot()
        self.record["commit_timeout"] = commit_timeout
        self.record["booted"] = False
        self.record["last_error"] = None
        self.board.ota_set_boot(slot)
        self.save()
        self.log.info("ota: staged in slot %d, rebooting" % slot)
        self.busy = False
        self.app.request_reboot(0, "ota")

    async def _download(self, url: str, sha256_hex: str) -> int:
        response = await self._get(url)
        if response[0] in (301, 302, 303, 307, 308):
            location = response[1].get("location")
            await self._close(response[3])
            if not location:
                raise OtaError("redirect without Location")
            if location.startswith("/"):
                tls, host, port, _ = parse_url(url)
                location = "%s://%s:%d%s" % ("https" if tls else "http", host, port, location)
            response = await self._get(location)
        status, headers, reader, writer = response
        try:
            if status != 200:
                raise OtaError("download failed: HTTP %d" % status)
            length = headers.get("content-length")
            total = int(length) if length is not None and length.isdigit() else None
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            slot, out = self.board.ota_begin()
            self.record["revert_slot"] = None  # the other slot is being overwritten
            self.save()
            hasher = hashlib.sha256()
            progress = [0, -1]  # bytes received, last percentage notified

            def consume(data: bytes) -> None:
                hasher.update(data)
                out.write(data)
                progress[0] += len(data)
                if total:
                    pct = progress[0] * 100 // total
                    if pct >= progress[1] + 10 or pct == 100:
                        progress[1] = pct
                        self.app.notify_event("ota_progress", {"progress": min(pct, 100)})

            try:
                if chunked:
                    await self._read_chunked(reader, consume)
                elif total is not None:
                    await self._read_exact(reader, total, consume)
                else:
                    await self._read_to_eof(reader, consume)
            finally:
                out.close()
            got = binascii.hexlify(hasher.digest()).decode()
            if got != sha256_hex:
                raise OtaError("sha256 mismatch: got %s" % got)
            if total is None:
                self.app.notify_event("ota_progress", {"progress": 100})
            self.log.info("ota: downloaded %d bytes, sha256 ok" % progress[0])
        finally:
            await self._close(writer)
        return slot

    async def _read_exact(self, reader: Any, count: int, consume: Any) -> None:
        left = count
        while left > 0:
            data = await asyncio.wait_for(reader.read(min(CHUNK, left)), IO_TIMEOUT_S)
            if not data:
                raise OtaError("connection closed after %d of %d bytes" % (count - left, count))
            consume(data)
            left -= len(data)

    async def _read_to_eof(self, reader: Any, consume: Any) -> None:
        while True:
            data = await asyncio.wait_for(reader.read(CHUNK), IO_TIMEOUT_S)
            if not data:
                return
            consume(data)

    async def _read_chunked(self, reader: Any, consume: Any) -> None:
        while True:
            line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT_S)
            size_text = line.decode().split(";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise OtaError("bad chunk size")
            if size == 0:
                return
            await self._read_exact(reader, size, consume)
            await asyncio.wait_for(reader.readline(), IO_TIMEOUT_S)  # CRLF after the chunk

    async def _get(self, url: str) -> "tuple[int, dict[str, str], Any, Any]":
        tls, host, port, path = parse_url(url)
        tls_opts = {"ca": "", "server_hostname": host} if tls else None
        reader, writer = await asyncio.wait_for(
            self.board.open_connection(host, port, tls_opts), IO_TIMEOUT_S)
        host_header = host if ":" not in host else "[%s]" % host
        if port != (443 if tls else 80):
            host_header = "%s:%d" % (host_header, port)
        request = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: HubLight\r\nConnection: close\r\n" \
                  "\r\n" % (path, host_header)
        writer.write(request.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT_S)
        parts = status_line.decode().split(" ")
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            await self._close(writer)
            raise OtaError("not an HTTP response")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await asyncio.wait_for(reader.readline(), IO_TIMEOUT_S)
            text = line.decode().strip()
            if not text:
                break
            name, _, value = text.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers, reader, writer

    async def _close(self, writer: Any) -> None:
        try:
            writer.close()
            await writer.wait_closed()
        except Exception:
            pass
