"""mDNS / DNS-SD: DNS message encoding and decoding, and a responder for the light's services.

    responder = MdnsResponder(board.udp_multicast(ip, "224.0.0.251", 5353), "hublight-1a2b3c",
                              ip, [{"type": "_hublight._tcp", "instance": "hublight-1a2b3c",
                                    "port": 80, "txt": {"id": "hublight-1a2b3c"}}])
    task = asyncio.create_task(responder.run())   # announces, then answers queries
    responder.update(txt={"paired": "1"})         # re-announces
    await responder.stop()                        # goodbye packets (TTL 0), closes the socket

Services may name their instance with "instance" or "name". Answers PTR, SRV, TXT, A (and NSEC
for AAAA/other types of our names) including `_services._dns-sd._udp.local` enumeration, with
known-answer suppression for PTR. Malformed packets are logged and ignored. Probing and conflict
resolution are out of scope.
"""

import struct

try:
    import asyncio
except ImportError:  # pragma: no cover - very old MicroPython
    import uasyncio as asyncio  # type: ignore[import-not-found,no-redef]

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated there
    pass

MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353

TYPE_A = 1
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_NSEC = 47
TYPE_ANY = 255
CLASS_IN = 1
CACHE_FLUSH = 0x8000
UNICAST_RESPONSE = 0x8000

TTL_HOST = 120   # A, SRV (RFC 6762 10: host names)
TTL_OTHER = 4500  # PTR, TXT
LEGACY_TTL = 10
SERVICES_ENUMERATION = "_services._dns-sd._udp.local"


class DnsError(ValueError):
    """A malformed DNS message."""


# --- names ---------------------------------------------------------------------------------

def encode_name(name: str) -> bytes:
    """A domain name as uncompressed labels (trailing dot optional)."""
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        if not raw:
            raise DnsError("empty label in %r" % (name,))
        if len(raw) > 63:
            raise DnsError("label longer than 63 bytes in %r" % (name,))
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def decode_name(data: bytes, offset: int) -> "tuple[str, int]":
    """-> (name without trailing dot, offset after the name). Follows compression pointers."""
    labels = []  # type: list[str]
    end = -1
    jumps = 0
    total = 0
    while True:
        if offset >= len(data):
            raise DnsError("name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsError("truncated compression pointer")
            pointer = ((length & 0x3F) << 8) | data[offset + 1]
            if end < 0:
                end = offset + 2
            jumps += 1
            if jumps > 32 or pointer >= len(data):
                raise DnsError("bad compression pointer")
            offset = pointer
            continue
        if length & 0xC0:
            raise DnsError("reserved label type")
        offset += 1
        if length == 0:
            break
        if offset + length > len(data):
            raise DnsError("label runs past the end of the message")
        total += length + 1
        if total > 255:
            raise DnsError("name longer than 255 bytes")
        try:
            labels.append(bytes(data[offset:offset + length]).decode())
        except UnicodeError:
            raise DnsError("label is not UTF-8")
        offset += length
    return ".".join(labels), (end if end >= 0 else offset)


def same_name(a: str, b: str) -> bool:
    """DNS names compare case-insensitively (ASCII)."""
    return a.rstrip(".").lower() == b.rstrip(".").lower()


# --- records -------------------------------------------------------------------------------

def encode_txt(txt: "dict[str, Any]") -> bytes:
    """TXT rdata from a dict (values as strings; None means a key without '=')."""
    out = b""
    for key in txt:
        value = txt[key]
        if value is None:
            item = str(key).encode()
        elif isinstance(value, bytes):
            item = str(key).encode() + b"=" + value
        else:
            item = (str(key) + "=" + str(value)).encode()
        if len(item) > 255:
            raise DnsError("TXT entry longer than 255 bytes: %s" % key)
        out += bytes([len(item)]) + item
    return out or b"\x00"


def decode_txt(rdata: bytes) -> "dict[str, str | None]":
    """TXT rdata -> dict (a key without '=' maps to None)."""
    out = {}  # type: dict[str, str | None]
    offset = 0
    while offset < len(rdata):
        length = rdata[offset]
        item = bytes(rdata[offset + 1:offset + 1 + length])
        if len(item) != length:
            raise DnsError("truncated TXT entry")
        offset += 1 + length
        if not item:
            continue
        try:
            text = item.decode()
        except UnicodeError:
            raise DnsError("TXT entry is not UTF-8")
        equals = text.find("=")
        if equals < 0:
            out[text] = None
        else:
            out[text[:equals]] = text[equals + 1:]
    return out


def encode_ip(ip: str) -> bytes:
    """Dotted IPv4 -> 4 bytes."""
    parts = ip.split(".")
    if len(parts) != 4:
        raise DnsError("not an IPv4 address: %r" % (ip,))
    return bytes([int(p) for p in parts])


def nsec_bitmap(types: "list[int]") -> bytes:
    """The type bitmap of an NSEC record (window 0 only: types below 256)."""
    highest = max(types)
    bitmap = bytearray(highest // 8 + 1)
    for record_type in types:
        bitmap[record_type // 8] |= 0x80 >> (record_type % 8)
    return bytes([0, len(bitmap)]) + bytes(bitmap)


def record(name: str, record_type: int, ttl: int, rdata: bytes,
           cache_flush: bool = False) -> "dict[str, Any]":
    """A resource record as a dict (the form encode_message takes and decode_message gives)."""
    return {"name": name.rstrip("."), "type": record_type, "class": CLASS_IN,
            "cache_flush": cache_flush, "ttl": ttl, "rdata": rdata}


def ptr_record(name: str, target: str, ttl: int = TTL_OTHER) -> "dict[str, Any]":
    return record(name, TYPE_PTR, ttl, encode_name(target))


def srv_record(name: str, port: int, target: str, ttl: int = TTL_HOST) -> "dict[str, Any]":
    return record(name, TYPE_SRV, ttl, struct.pack(">HHH", 0, 0, port) + encode_name(target),
                  True)


def txt_record(name: str, txt: "dict[str, Any]", ttl: int = TTL_OTHER) -> "dict[str, Any]":
    return record(name, TYPE_TXT, ttl, encode_txt(txt), True)


def a_record(name: str, ip: str, ttl: int = TTL_HOST) -> "dict[str, Any]":
    return record(name, TYPE_A, ttl, encode_ip(ip), True)


def nsec_record(name: str, types: "list[int]", ttl: int = TTL_HOST) -> "dict[str, Any]":
    return record(name, TYPE_NSEC, ttl, encode_name(name) + nsec_bitmap(types), True)


def _decode_rdata(data: bytes, record_type: int, start: int, end: int) -> "dict[str, Any]":
    rdata = bytes(data[start:end])
    if record_type == TYPE_PTR:
        return {"target": decode_name(data, start)[0]}
    if record_type == TYPE_SRV:
        if len(rdata) < 7:
            raise DnsError("short SRV record")
        priority, weight, port = struct.unpack(">HHH", rdata[:6])
        return {"priority": priority, "weight": weight, "port": port,
                "target": decode_name(data, start + 6)[0]}
    if record_type == TYPE_TXT:
        return {"txt": decode_txt(rdata)}
    if record_type == TYPE_A:
        if len(rdata) != 4:
            raise DnsError("A record of %d bytes" % len(rdata))
        return {"ip": "%d.%d.%d.%d" % (rdata[0], rdata[1], rdata[2], rdata[3])}
    if record_type == TYPE_NSEC:
        next_name, offset = decode_name(data, start)
        types = []
        while offset + 2 <= end:
            window, length = data[offset], data[offset + 1]
            bitmap = data[offset + 2:offset + 2 + length]
            for i in range(len(bitmap)):
                for bit in range(8):
                    if bitmap[i] & (0x80 >> bit):
                        types.append(window * 256 + i * 8 + bit)
            offset += 2 + length
        return {"next": next_name, "types": types}
    return {}


# --- messages ------------------------------------------------------------------------------

def encode_message(answers: "list[dict[str, Any]]", questions: "list[Any] | None" = None,
                   additional: "list[dict[str, Any]] | None" = None, message_id: int = 0,
                   flags: int = 0x8400) -> bytes:
    """A DNS message. questions: (name, type, unicast_response) tuples; records from record()."""
    questions = questions or []
    additional = additional or []
    out = struct.pack(">HHHHHH", message_id, flags, len(questions), len(answers), 0,
                      len(additional))
    for question in questions:
        qclass = CLASS_IN | (UNICAST_RESPONSE if len(question) > 2 and question[2] else 0)
        out += encode_name(question[0]) + struct.pack(">HH", question[1], qclass)
    for rr in answers + additional:
        rclass = rr.get("class", CLASS_IN) | (CACHE_FLUSH if rr.get("cache_flush") else 0)
        out += encode_name(rr["name"]) + struct.pack(">HHIH", rr["type"], rclass, rr["ttl"],
                                                     len(rr["rdata"])) + rr["rdata"]
    return out


def decode_message(data: bytes) -> "dict[str, Any]":
    """Parse a DNS message. -> {id, flags, is_response, questions: [{name, type, unicast}],
    answers, authorities, additional: [{name, type, class, cache_flush, ttl, rdata, ...}]}.
    Raises DnsError when malformed."""
    if len(data) < 12:
        raise DnsError("message shorter than a DNS header")
    message_id, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", data[:12])
    offset = 12
    questions = []
    for _ in range(qd):
        name, offset = decode_name(data, offset)
        if offset + 4 > len(data):
            raise DnsError("truncated question")
        qtype, qclass = struct.unpack(">HH", data[offset:offset + 4])
        offset += 4
        questions.append({"name": name, "type": qtype, "class": qclass & 0x7FFF,
                          "unicast": bool(qclass & UNICAST_RESPONSE)})
    sections = []
    for count in (an, ns, ar):
        records = []
        for _ in range(count):
            name, offset = decode_name(data, offset)
            if offset + 10 > len(data):
                raise DnsError("truncated resource record")
            rtype, rclass, ttl, length = struct.unpack(">HHIH", data[offset:offset + 10])
            offset += 10
            if offset + length > len(data):
                raise DnsError("resource record data runs past the end")
            rr = {"name": name, "type": rtype, "class": rclass & 0x7FFF,
                  "cache_flush": bool(rclass & CACHE_FLUSH), "ttl": ttl,
                  "rdata": bytes(data[offset:offset + length])}
            rr.update(_decode_rdata(data, rtype, offset, offset + length))
            records.append(rr)
            offset += length
        sections.append(records)
    return {"id": message_id, "flags": flags, "is_response": bool(flags & 0x8000),
            "questions": questions, "answers": sections[0], "authorities": sections[1],
            "additional": sections[2]}


# --- the responder ---------------------------------------------------------------------------

class MdnsResponder:
    """Advertises the light's host name and services on one interface (see module docstring)."""

    def __init__(self, udp: Any, hostname: str, ip: str, services: "list[dict[str, Any]]",
                 log: Any = None, announce_count: int = 3,
                 announce_interval_s: float = 1.0) -> None:
        self.udp = udp
        self.host = hostname.rstrip(".")
        if not self.host.endswith(".local"):
            self.host += ".local"
        self.ip = ip
        self.services = []  # type: list[dict[str, Any]]
        self._set_services(services)
        self.log = log
        self.announce_count = announce_count
        self.announce_interval_s = announce_interval_s
        self.stopped = False
        self.queries_answered = 0
        self.packets_ignored = 0
        self._announcer = None  # type: Any
        self._running = False

    def _log(self, level: str, message: str) -> None:
        if self.log is not None:
            try:
                self.log.add(level, "mdns: " + message)
            except Exception:  # noqa: BLE001 - logging must never break the responder
                pass

    def _set_services(self, services: "list[dict[str, Any]]") -> None:
        entries = []
        for service in services:
            service_type = service["type"].rstrip(".")
            if not service_type.endswith(".local"):
                service_type += ".local"
            instance = service.get("instance") or service.get("name")
            entries.append({"type": service_type, "instance": instance,
                            "fqdn": "%s.%s" % (instance, service_type),
                            "port": int(service["port"]), "txt": dict(service.get("txt") or {})})
        self.services = entries

    # --- records -----------------------------------------------------------------------------
    def _service_records(self, service: "dict[str, Any]", ttl_scale: int = 1) -> "list[Any]":
        return [srv_record(service["fqdn"], service["port"], self.host, TTL_HOST * ttl_scale),
                txt_record(service["fqdn"], service["txt"], TTL_OTHER * ttl_scale)]

    def all_records(self, ttl_scale: int = 1) -> "list[dict[str, Any]]":
        """Every record we own (ttl_scale=0 for goodbyes)."""
        records = []
        for service in self.services:
            records.append(ptr_record(service["type"], service["fqdn"], TTL_OTHER * ttl_scale))
            records.extend(self._service_records(service, ttl_scale))
        for service_type in self._service_types():
            records.append(ptr_record(SERVICES_ENUMERATION, service_type, TTL_OTHER * ttl_scale))
        records.append(a_record(self.host, self.ip, TTL_HOST * ttl_scale))
        return records

    def _service_types(self) -> "list[str]":
        types = []  # type: list[str]
        for service in self.services:
            if service["type"] not in types:
                types.append(service["type"])
        return types

    def answer(self, message: "dict[str, Any]") -> "tuple[list[Any], list[Any]]":
        """-> (answers, additional records) for a decoded query."""
        answers = []  # type: list[dict[str, Any]]
        additional = []  # type: list[dict[str, Any]]
        known = message.get("answers") or []

        def add(target: "list[dict[str, Any]]", rr: "dict[str, Any]") -> None:
            for existing in answers + additional:
                if existing["type"] == rr["type"] and same_name(existing["name"], rr["name"]) \
                        and existing["rdata"] == rr["rdata"]:
                    return
            target.append(rr)

        def known_answer(rr: "dict[str, Any]") -> bool:
            for k in known:
                if k["type"] == rr["type"] and same_name(k["name"], rr["name"]) and \
                        k["rdata"] == rr["rdata"] and k["ttl"] * 2 >= rr["ttl"]:
                    return True
            return False

        for question in message["questions"]:
            name = question["name"]
            qtype = question["type"]
            if question.get("class", CLASS_IN) not in (CLASS_IN, TYPE_ANY):
                continue
            if same_name(name, SERVICES_ENUMERATION) and qtype in (TYPE_PTR, TYPE_ANY):
                for service_type in self._service_types():
                    rr = ptr_record(SERVICES_ENUMERATION, service_type)
                    if not known_answer(rr):
                        add(answers, rr)
            for service in self.services:
                if same_name(name, service["type"]) and qtype in (TYPE_PTR, TYPE_ANY):
                    rr = ptr_record(service["type"], service["fqdn"])
                    if known_answer(rr):
                        continue
                    add(answers, rr)
                    for extra in self._service_records(service):
                        add(additional, extra)
                    add(additional, a_record(self.host, self.ip))
                elif same_name(name, service["fqdn"]):
                    srv, txt = self._service_records(service)
                    if qtype in (TYPE_SRV, TYPE_ANY):
                        add(answers, srv)
                        add(additional, a_record(self.host, self.ip))
                    if qtype in (TYPE_TXT, TYPE_ANY):
                        add(answers, txt)
                    if qtype not in (TYPE_SRV, TYPE_TXT, TYPE_ANY):
                        add(answers, nsec_record(service["fqdn"], [TYPE_TXT, TYPE_SRV]))
            if same_name(name, self.host):
                if qtype in (TYPE_A, TYPE_ANY):
                    add(answers, a_record(self.host, self.ip))
                else:
                    add(answers, nsec_record(self.host, [TYPE_A]))
        # Whatever the answer section already holds is not repeated as additional.
        additional = [rr for rr in additional if rr not in answers]
        return answers, additional

    # --- network -------------------------------------------------------------------------------
    def _send(self, data: bytes, addr: "tuple[str, int]") -> None:
        try:
            self.udp.send(data, addr)
        except Exception as exc:  # noqa: BLE001 - a full buffer or a lost interface is transient
            self._log("warn", "send failed: %r" % (exc,))

    def handle_packet(self, data: bytes, addr: "tuple[str, int]") -> None:
        """Answer one received datagram (queries only; malformed ones are ignored)."""
        try:
            message = decode_message(data)
        except (DnsError, IndexError, ValueError) as exc:
            self.packets_ignored += 1
            self._log("debug", "ignored malformed packet from %s: %s" % (addr[0], exc))
            return
        if message["is_response"] or (message["flags"] >> 11) & 0xF != 0:
            return  # responses (our own announcements included) and non-standard opcodes
        answers, additional = self.answer(message)
        if not answers:
            return
        self.queries_answered += 1
        legacy = addr[1] != MDNS_PORT
        if legacy:
            # RFC 6762 6.7: a one-shot resolver gets the id and questions back, short TTLs, and
            # no cache-flush bits.
            for rr in answers + additional:
                rr["ttl"] = min(rr["ttl"], LEGACY_TTL)
                rr["cache_flush"] = False
            questions = [(q["name"], q["type"]) for q in message["questions"]]
            self._send(encode_message(answers, questions, additional, message["id"]), addr)
            return
        packet = encode_message(answers, None, additional)
        unicast = True
        for question in message["questions"]:
            if not question["unicast"]:
                unicast = False
        if unicast:
            self._send(packet, addr)
        else:
            self._send(packet, (MDNS_GROUP, MDNS_PORT))

    def announce_now(self, ttl_scale: int = 1) -> None:
        """Send every record once, unsolicited (ttl_scale=0: goodbye)."""
        records = self.all_records(ttl_scale)
        # Send in two packets: service records, then the rest, to stay well below the MTU.
        half = len(records) // 2 or 1
        for chunk in (records[:half], records[half:]):
            if chunk:
                self._send(encode_message(chunk), (MDNS_GROUP, MDNS_PORT))

    async def _announce(self) -> None:
        for i in range(self.announce_count):
            if self.stopped:
                return
            self.announce_now()
            if i + 1 < self.announce_count:
                await asyncio.sleep(self.announce_interval_s * (1 << i))

    def _start_announcing(self) -> None:
        if not self._running:
            return  # run() announces when it starts
        if self._announcer is not None:
            self._announcer.cancel()
        self._announcer = asyncio.create_task(self._announce())

    async def run(self) -> None:
        """Announce, then answer queries until stop()."""
        self._running = True
        self._start_announcing()
        while not self.stopped:
            try:
                data, addr = await self.udp.recv()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - closed socket (stop) or interface loss
                if self.stopped:
                    return
                self._log("warn", "receive failed: %r" % (exc,))
                await asyncio.sleep(1)
                continue
            try:
                self.handle_packet(data, addr)
            except Exception as exc:  # noqa: BLE001 - never let one packet stop the responder
                self.packets_ignored += 1
                self._log("error", "packet from %s broke the handler: %r" % (addr[0], exc))

    def update(self, ip: "str | None" = None, txt: "dict[str, Any] | None" = None,
               services: "list[dict[str, Any]] | None" = None) -> None:
        """Change the address, the TXT of every service, or the service list; re-announce.
        Services that disappear get goodbyes."""
        if services is not None:
            before = self.all_records(0)
            self._set_services(services)
            current = [(rr["name"].lower(), rr["type"], rr["rdata"]) for rr in self.all_records()]
            gone = [rr for rr in before
                    if (rr["name"].lower(), rr["type"], rr["rdata"]) not in current
                    and rr["type"] == TYPE_PTR]
            if gone:
                self._send(encode_message(gone), (MDNS_GROUP, MDNS_PORT))
        if ip is not None:
            self.ip = ip
        if txt is not None:
            for service in self.services:
                service["txt"] = dict(txt)
        if not self.stopped:
            self._start_announcing()

    async def stop(self) -> None:
        """Send goodbyes (TTL 0) and close the socket."""
        if self.stopped:
            return
        self.stopped = True
        if self._announcer is not None:
            self._announcer.cancel()
            self._announcer = None
        self.announce_now(0)
        await asyncio.sleep(0.05)
        self.announce_now(0)
        try:
            self.udp.close()
        except Exception:  # noqa: BLE001
            pass
