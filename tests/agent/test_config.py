"""agent.toml: good files load with paths relative to the file; bad ones give one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyfleet.agent.backoff import Backoff
from tinyfleet.agent.config import load_config
from tinyfleet.errors import UsageError

GOOD = """
[device]
id = "edge-7"
secret_file = "secret"
runtime = "onnxruntime"
[server]
mqtt = "10.0.0.2:1884"
http = "http://10.0.0.2:8000/"
[paths]
state_dir = "st"
trusted_keys = ["k.pub"]
[serve]
unix = "agent.sock"
"""


def test_loads_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    (tmp_path / "agent.toml").write_text(GOOD)
    cfg = load_config(tmp_path / "agent.toml")
    assert (cfg.device_id, cfg.secret, cfg.runtime) == ("edge-7", "s3cret", "onnxruntime")
    assert (cfg.mqtt_host, cfg.mqtt_port, cfg.http_base) == ("10.0.0.2", 1884, "http://10.0.0.2:8000")
    assert cfg.state_dir == tmp_path / "st" and cfg.trusted_keys == [tmp_path / "k.pub"]
    assert cfg.serve_unix == str(tmp_path / "agent.sock")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[device]\nid = 'Bad Id'\nsecret = 'x'\n[paths]\ntrusted_keys=['k']", "id"),
        ("[device]\nid = 'a'\n[paths]\ntrusted_keys=['k']", "secret"),
        ("[device]\nid = 'a'\nsecret = 'x'\n", "trusted_keys"),
        ("[device]\nid = 'a'\nsecret = 'x'\nruntime = 'tvm'\n[paths]\ntrusted_keys=['k']", "runtime"),
        ("[device]\nid = 'a'\nsecret = 'x'\n[paths]\ntrusted_keys=['k']\n[nope]\n", "unknown section"),
        ("[device]\nid = 'a'\nsecret = 'x'\n[server]\nmqtt = 'h:99999'\n[paths]\ntrusted_keys=['k']", "port"),
        (
            "[device]\nid = 'a'\nsecret = 'x'\n[telemetry]\nperiod_s = true\n[paths]\ntrusted_keys=['k']",
            "period_s",
        ),
        ("[device\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "agent.toml").write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config(tmp_path / "agent.toml")


def test_cli_reports_a_missing_config(tmp_path: Path) -> None:
    from tinyfleet.cli.main import main

    assert main(["agent", "run", "--config", str(tmp_path / "none.toml")]) == 2


def test_backoff_full_jitter_grows_to_cap() -> None:
    import random

    b = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    ceilings = [b.ceiling(n) for n in range(8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    delays = [b.next_delay() for _ in range(8)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.attempt == 0
    with pytest.raises(ValueError):
        Backoff(base=0)
