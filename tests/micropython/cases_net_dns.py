"""DNS message encoding and decoding and the mDNS responder's answers (hublight.mdns)."""

from hublight import mdns


def _expect_dns_error(fn, *args):
    try:
        fn(*args)
    except mdns.DnsError:
        return
    raise AssertionError("expected DnsError")


def _responder():
    txt = {"id": "hublight-abcdef", "paired": "0"}
    services = [{"type": "_hublight._tcp", "instance": "hublight-abcdef", "port": 80, "txt": txt},
                {"type": "_http._tcp", "name": "hublight-abcdef", "port": 80, "txt": txt}]
    return mdns.MdnsResponder(None, "hublight-abcdef", "192.168.1.20", services)


def _query(*questions):
    return mdns.decode_message(mdns.encode_message([], list(questions), flags=0))


def test_names_and_compression_pointers():
    assert mdns.encode_name("a.local.") == b"\x01a\x05local\x00"
    message = (b"\x00" * 12 + b"\x05local\x00" + b"\x04host\xc0\x0c")
    assert mdns.decode_name(message, 12) == ("local", 19)
    assert mdns.decode_name(message, 19) == ("host.local", 26)
    _expect_dns_error(mdns.decode_name, b"\xc0\x00", 0)  # pointer loop
    _expect_dns_error(mdns.decode_name, b"\x05ab", 0)
    _expect_dns_error(mdns.decode_name, b"\x80", 0)
    _expect_dns_error(mdns.encode_name, "a..b")
    _expect_dns_error(mdns.encode_name, "x" * 64 + ".local")
    assert mdns.same_name("HubLight-1.LOCAL.", "hublight-1.local")


def test_records_round_trip():
    records = [mdns.ptr_record("_hublight._tcp.local", "x._hublight._tcp.local"),
               mdns.srv_record("x._hublight._tcp.local", 8080, "x.local"),
               mdns.txt_record("x._hublight._tcp.local", {"id": "x", "flag": None, "e": ""}),
               mdns.a_record("x.local", "10.0.0.7"),
               mdns.nsec_record("x.local", [mdns.TYPE_A])]
    message = mdns.decode_message(mdns.encode_message(records[:2], None, records[2:], 7))
    assert message["id"] == 7 and message["is_response"]
    ptr, srv = message["answers"]
    txt, a, nsec = message["additional"]
    assert ptr["target"] == "x._hublight._tcp.local" and not ptr["cache_flush"]
    assert (srv["port"], srv["target"], srv["cache_flush"], srv["ttl"]) == (8080, "x.local",
                                                                           True, 120)
    assert txt["txt"] == {"id": "x", "flag": None, "e": ""}
    assert a["ip"] == "10.0.0.7"
    assert nsec["types"] == [mdns.TYPE_A] and nsec["next"] == "x.local"
    question = _query(("_hublight._tcp.local", mdns.TYPE_PTR, True))["questions"][0]
    assert question == {"name": "_hublight._tcp.local", "type": mdns.TYPE_PTR, "class": 1,
                        "unicast": True}


def test_malformed_messages():
    _expect_dns_error(mdns.decode_message, b"\x00" * 11)
    _expect_dns_error(mdns.decode_message, b"\x00\x00\x00\x00\x00\x01" + b"\x00" * 6)
    _expect_dns_error(mdns.decode_message, b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00"
                      b"\x01a\x00\x00\x01\x00\x01\x00\x00\x00\x10\x00\x04\x01")
    _expect_dns_error(mdns.decode_txt, b"\x05ab")


def test_answers_ptr_with_additional_srv_txt_a():
    answers, additional = _responder().answer(_query(("_hublight._tcp.local", mdns.TYPE_PTR)))
    assert [rr["type"] for rr in answers] == [mdns.TYPE_PTR]
    assert sorted(rr["type"] for rr in additional) == [mdns.TYPE_A, mdns.TYPE_TXT, mdns.TYPE_SRV]


def test_answers_srv_txt_a_enumeration_and_nsec():
    responder = _responder()
    answers, _ = responder.answer(_query(("hublight-abcdef._http._tcp.local", mdns.TYPE_ANY)))
    assert sorted(rr["type"] for rr in answers) == [mdns.TYPE_TXT, mdns.TYPE_SRV]
    answers, _ = responder.answer(_query(("HUBLIGHT-ABCDEF.local", mdns.TYPE_A)))
    assert answers[0]["rdata"] == bytes([192, 168, 1, 20])
    answers, _ = responder.answer(_query(("hublight-abcdef.local", mdns.TYPE_AAAA)))
    assert answers[0]["type"] == mdns.TYPE_NSEC
    answers, _ = responder.answer(_query((mdns.SERVICES_ENUMERATION, mdns.TYPE_PTR)))
    assert len(answers) == 2
    assert responder.answer(_query(("other.local", mdns.TYPE_A))) == ([], [])


def test_known_answer_suppression_and_goodbyes():
    responder = _responder()
    known = mdns.ptr_record("_hublight._tcp.local", "hublight-abcdef._hublight._tcp.local")
    query = mdns.decode_message(mdns.encode_message(
        [known], [("_hublight._tcp.local", mdns.TYPE_PTR)], flags=0))
    assert responder.answer(query) == ([], [])
    assert all(rr["ttl"] == 0 for rr in responder.all_records(0))
    responder.update(ip="192.168.1.21", txt={"id": "hublight-abcdef", "paired": "1"})
    answers, _ = responder.answer(_query(("hublight-abcdef.local", mdns.TYPE_A)))
    assert answers[0]["rdata"] == bytes([192, 168, 1, 21])
