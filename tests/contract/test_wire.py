from __future__ import annotations

import json

import pytest

from tinyfleet import wire


def test_topics_round_trip() -> None:
    t = wire.topic("dev-01", wire.Channel.TM)
    assert t == "tf/v1/d/dev-01/tm"
    assert wire.parse_topic(t) == ("dev-01", wire.Channel.TM)
    assert wire.wildcard("hb") == "tf/v1/d/+/hb"
    for bad in (
        "tf/v1/d/dev-01",
        "tf/v1/d/Dev/tm",
        "tf/v1/d/a/b/tm",
        "x/v1/d/a/tm",
        "tf/v1/d/a/zz",
        "tf/v1/d/+/tm",
    ):
        with pytest.raises(wire.WireError):
            wire.parse_topic(bad)
    with pytest.raises(wire.WireError):
        wire.topic("a/b", "tm")


def test_telemetry_for_digits_is_small() -> None:
    msg = wire.Telemetry(
        ts=1.7e9,
        period_s=60,
        model="1.0.0",
        n=1200,
        err=0,
        lat_p50_us=812.5,
        lat_p95_us=1500,
        input_hist=[[1000 + i for i in range(16)]],
        cls=[120] * 10,
        conf=[75] * 16,
    )
    raw = wire.encode(msg)
    assert len(raw) <= 512
    back = wire.parse("tm", raw)
    assert back == msg and json.loads(raw)["in"][0][0] == 1000


def test_state_spoofing_and_validation() -> None:
    state = wire.DeviceState(device_id="dev-1", board="rpi4", kind="linux", ts=1.0)
    raw = wire.encode(state)
    assert wire.parse("state", raw, device_id="dev-1") == state
    with pytest.raises(wire.WireError, match="topic of"):
        wire.parse("state", raw, device_id="dev-2")


@pytest.mark.parametrize(
    "channel, payload",
    [
        ("tm", b"not json"),
        ("tm", b"[]"),
        ("tm", b'{"v":2,"ts":1,"period_s":1,"model":"1.0.0","n":1}'),
        ("tm", b'{"v":1,"ts":1,"period_s":0,"model":"1.0.0","n":1}'),
        ("tm", b'{"v":1,"ts":1,"period_s":1,"model":"1.0.0","n":-1}'),
        ("tm", b'{"v":1,"ts":1,"period_s":1,"model":"1.0.0","n":1,"in":[[1,2]]}'),
        ("hb", b'{"v":1}'),
        ("event", b'{"v":1,"deployment_id":"d","type":"exploded","ts":1}'),
        ("desired", b'{"v":1,"deployment_id":"","issued_at":1}'),
        ("online", b"yes"),
        ("tm", b'{"v":1,"x":' + b"[" * 1900 + b"]" * 1900 + b',"ts":1,"period_s":1,"model":"1.0.0","n":1}'),
        ("hb", b"{" + b" " * 600 + b"}"),
    ],
)
def test_malformed_messages_raise_wire_error(channel: str, payload: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.parse(channel, payload)


def test_desired_state_with_model() -> None:
    d = wire.DesiredState(
        deployment_id="dep-1",
        rollout_id="r-1",
        issued_at=2.0,
        model=wire.DesiredModel(
            name="digits",
            version="2.0.0",
            sha256="a" * 64,
            size=1000,
            security_counter=2,
            url="http://127.0.0.1:8080/api/v1/artifacts/" + "a" * 64,
        ),
    )
    assert wire.parse("desired", wire.encode(d)) == d


def test_encoding_is_the_published_format() -> None:
    """Byte for byte what version 1 devices and servers exchange: ``v`` first, absent optionals left out."""
    state = wire.DeviceState(
        device_id="dev-1",
        board="rpi4",
        kind=wire.DeviceKind.LINUX,
        slots=[wire.SlotInfo(slot=wire.SlotName.A, state=wire.SlotState.CONFIRMED)],
        update=wire.UpdateState.TESTING,
        ts=1.5,
    )
    assert wire.encode(state) == (
        b'{"v":1,"device_id":"dev-1","board":"rpi4","kind":"linux","firmware":"",'
        b'"slots":[{"slot":"a","state":"confirmed"}],"runtimes":[],"update":"testing","ts":1.5,"seq":0}'
    )
    ev = wire.DeviceEvent(deployment_id="d", type=wire.EventType.CONFIRMED, ts=2.0)
    assert wire.encode(ev) == b'{"v":1,"deployment_id":"d","type":"confirmed","detail":"","ts":2.0,"seq":0}'
    # a message without "v" reads as version 1
    assert wire.parse("hb", b'{"ts":3}') == wire.Heartbeat(ts=3.0)


@pytest.mark.parametrize(
    "channel, payload, field",
    [
        ("event", b'{"v":1,"deployment_id":"x","type":"download_started","ts":NaN}', ""),
        ("event", b'{"v":1,"deployment_id":"x","type":"download_started","ts":Infinity}', ""),
        ("event", b'{"v":1,"deployment_id":"x","type":"download_started","ts":1e400}', "ts"),
        ("hb", b'{"v":1,"ts":-1}', "ts"),
        ("hb", b'{"v":1,"ts":"1"}', "ts"),
        (
            "state",
            b'{"v":1,"device_id":"d","board":"b","kind":"linux","ts":1,"slots":[{"slot":"a","state":"ok"}]}',
            "slots[0].state",
        ),
        (
            "state",
            b'{"v":1,"device_id":"d","board":"b","kind":"linux","ts":1,"slots":[{"slot":"c","state":"empty"}]}',
            "slots[0].slot",
        ),
        ("state", b'{"v":1,"device_id":"d","board":"b","kind":"phone","ts":1}', "kind"),
        ("state", b'{"v":1,"device_id":"d","board":"b","kind":"linux","ts":1,"update":"busy"}', "update"),
        (
            "state",
            b'{"v":1,"device_id":"d","board":"b","kind":"linux","ts":1,"firmware":"' + b"x" * 33 + b'"}',
            "firmware",
        ),
        ("state", b'{"v":1,"device_id":"d","board":"b\\n","kind":"linux","ts":1}', "board"),
        (
            "state",
            b'{"v":1,"device_id":"d","board":"b","kind":"linux","ts":1,"runtimes":["a","b","c","d","e","f","g","h","i"]}',
            "runtimes",
        ),
        ("tm", b'{"v":1,"ts":1,"period_s":86401,"model":"1.0.0","n":1}', "period_s"),
        ("tm", b'{"v":1,"ts":1,"period_s":1,"model":"1.0.0","n":1.0}', "n"),
        ("event", b'{"v":1,"deployment_id":"x","type":"confirmed","ts":1,"progress":1.5}', "progress"),
        (
            "desired",
            b'{"v":1,"deployment_id":"x","issued_at":1,"model":{"name":"m","version":"1.0.0","sha256":"'
            + b"a" * 64
            + b'","size":0,"security_counter":1,"url":"/"}}',
            "model.size",
        ),
    ],
)
def test_wire_error_names_the_field(channel: str, payload: bytes, field: str) -> None:
    with pytest.raises(wire.WireError) as info:
        wire.parse(channel, payload)
    assert info.value.field == field
    if field:
        assert f": {field}: " in str(info.value)


def test_encode_refuses_what_receivers_would_drop() -> None:
    bad = wire.DeviceState(
        device_id="dev-1", board="rpi4", kind=wire.DeviceKind.LINUX, firmware="x" * 33, ts=1.0
    )
    with pytest.raises(wire.WireError, match="firmware"):
        wire.encode(bad)


def test_to_dict_and_convert_round_trip() -> None:
    m = wire.DesiredModel(name="m", version="1.0.0", sha256="a" * 64, size=1, security_counter=0, url="/x")
    assert wire.convert(wire.to_dict(m), wire.DesiredModel) == m
    with pytest.raises(wire.WireError, match="size"):
        wire.convert({**wire.to_dict(m), "size": -1}, wire.DesiredModel)
