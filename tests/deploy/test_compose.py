"""deploy/compose.yaml wires the same config files the native topology test starts (no Docker engine
here): the services, their mounts, and the names Prometheus scrapes agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_topology_uses_the_tested_config_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "mosquitto", "server-1", "server-2", "prometheus", "grafana"} <= set(services)
    for name in ("server-1", "server-2"):
        svc = services[name]
        assert svc["command"] == ["--config", "/etc/tinyfleet/server.toml"]
        assert "./server.toml:/etc/tinyfleet/server.toml:ro" in svc["volumes"]
        assert svc["build"]["dockerfile"] == "deploy/docker/server.Dockerfile"
        assert svc["environment"]["TINYFLEET_BROKER"].startswith("mqtt://tinyfleet-admin:")
    assert (
        "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in services["mosquitto"]["volumes"]
    )
    prom_mounts = services["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom_mounts
    assert "./prometheus/rules.yml:/etc/prometheus/rules.yml:ro" in prom_mounts
    graf = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in graf
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in graf
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "tinyfleet.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"

    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["server-1:8080", "server-2:8080"]
    assert prom["rule_files"] == ["rules.yml"]

    settings = tomllib.loads((DEPLOY / "server.toml").read_text())
    assert settings["broker_accounts"] == "dynsec" and settings["port"] == 8080
    assert settings["database_url"].startswith("postgresql://tinyfleet@postgres:5432/")
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    assert (
        "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in conf
        and "allow_anonymous false" in conf
    )


def test_dockerfiles_install_extras_without_tensorflow() -> None:
    server = (DEPLOY / "docker" / "server.Dockerfile").read_text()
    agent = (DEPLOY / "docker" / "agent.Dockerfile").read_text()
    assert "-c requirements/lock.txt '.[server]'" in server and "find_spec('tensorflow') is None" in server
    assert "-c requirements/lock.txt '.[agent]'" in agent and "find_spec('tensorflow') is None" in agent
    assert "TARGETARCH" in agent  # multi-arch: amd64 and arm64 (LiteRT has no 32-bit ARM wheels)
