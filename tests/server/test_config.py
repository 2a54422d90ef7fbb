"""Settings from the environment and broker URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyfleet.errors import UsageError
from tinyfleet.server.config import Settings, parse_broker_url


def test_environment_overrides_defaults() -> None:
    st = Settings.from_env(
        {
            "TINYFLEET_DATA": "fleet",
            "TINYFLEET_PORT": "9000",
            "TINYFLEET_SCHEDULER_INTERVAL": "0.25",
            "TINYFLEET_TRUSTED_KEYS": "a.pub:b.pub",
            "TINYFLEET_BROKER": "mqtt://u:p@broker:1884",
        }
    )
    assert st.data_dir == Path("fleet") and st.port == 9000 and st.scheduler_interval == 0.25
    assert st.trusted_keys == (Path("a.pub"), Path("b.pub")) and not st.builtin_broker
    assert st.db_url.startswith("sqlite:///") and st.db_url.endswith("fleet/tinyfleet.db")
    assert st.with_overrides(port=None, host="0.0.0.0").port == 9000
    with pytest.raises(UsageError, match="TINYFLEET_PORT"):
        Settings.from_env({"TINYFLEET_PORT": "eighty"})


def test_broker_urls() -> None:
    u = parse_broker_url("mqtts://tf.server:s3cret@example.org")
    assert (u.host, u.port, u.username, u.password, u.tls) == (
        "example.org",
        8883,
        "tf.server",
        "s3cret",
        True,
    )
    assert parse_broker_url("mqtt://127.0.0.1:1999").port == 1999
    for bad in ("http://x", "mqtt://", "mqtt://h:notaport"):
        with pytest.raises(UsageError):
            parse_broker_url(bad)
