"""The demo, step by step: train → package → serve → boot devices → roll out → drift → halted rollback.

Every part is the real one: the compiler trains and signs, `tinyfleet server` runs with its own
Mosquitto, the firmware boots in QEMU behind a gateway agent, a Linux agent runs LiteRT, and the
simulator connects 200 MQTT devices. Each child process logs to ``WORKDIR/logs/NAME.log``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from tinyfleet.demo.fleet import FleetClient
from tinyfleet.demo.procs import Proc, ProcessGroup, tinyfleet_cmd
from tinyfleet.demo.summary import print_summary
from tinyfleet.errors import DeviceError, ServerError
from tinyfleet.netutil import free_port
from tinyfleet.package import ModelPackage
from tinyfleet.signing import PUBLIC_NAME, init_keys, load_signing_key

__all__ = ["Demo", "DemoConfig"]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class DemoConfig:
    workdir: Path
    duration: float | None = None  # None: serve until Ctrl-C
    sim_devices: int = 200
    mcus: int = 2
    drift_share: float = 0.3
    retrain_v2: bool = True  # False: v2 is v1's model re-signed (a quicker demo, used by the test)
    http_port: int = 0
    spec: Path = REPO / "examples" / "digits.toml"
    # A finished digits build folder and the keys folder that signed it: skips training (tests).
    prebuilt: tuple[Path, Path] | None = None


@dataclass
class _Prebuilt:
    out_dir: Path
    package_path: Path


@dataclass
class Packages:
    v1: Path
    v2: Path
    v3: Path


@dataclass
class Demo:
    cfg: DemoConfig
    console: Console = field(default_factory=Console)
    procs: ProcessGroup = field(init=False)
    fleet: FleetClient = field(init=False)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    canary_v3: list[str] = field(default_factory=list)
    drift_report: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.procs = ProcessGroup(self.cfg.workdir / "logs")

    # ------------------------------------------------------------------ orchestration
    def run(self) -> None:
        w = self.cfg.workdir
        if w.exists():
            shutil.rmtree(w)
        w.mkdir(parents=True)
        self.keys_dir = w / "keys"
        if self.cfg.prebuilt:
            shutil.copytree(self.cfg.prebuilt[1], self.keys_dir)
        else:
            init_keys(self.keys_dir)
        self.env = {"TINYFLEET_KEYS": str(self.keys_dir.resolve())}
        try:
            firmware = self._start_firmware_build()
            pkgs = self.step(
                "1/7 train and package digits v1, v2 (and a v3 with a failing self-test)", self.build_models
            )
            self.step("2/7 start the fleet server, its broker and the dashboard", self.start_server)
            self.step(
                f"3/7 boot {self.cfg.mcus} emulated MCU(s) behind a gateway, a Linux agent and "
                f"{self.cfg.sim_devices} simulated devices",
                lambda: self.start_devices(firmware),
            )
            self.step(
                "4/7 roll out v1 to all, then v2 in stages (canary → 25 % → 100 %)",
                lambda: self.rollouts_v1_v2(pkgs),
            )
            self.step("5/7 inject input drift on part of the fleet", self.inject_drift)
            self.step(
                "6/7 publish v3, which fails its self-test: the canary fails and the rollout rolls back",
                lambda: self.rollout_v3(pkgs),
            )
            self.step(
                "7/7 summary",
                lambda: print_summary(
                    self.console, self.fleet, self.outcomes, self.drift_report, self.canary_v3
                ),
            )
            self.serve()
        finally:
            self.procs.stop_all()

    def step(self, title: str, fn: Any) -> Any:
        self.console.rule(f"[bold]{title}")
        t0 = time.monotonic()
        result = fn()
        self.console.print(f"[dim]   done in {time.monotonic() - t0:.1f} s[/dim]")
        return result

    # ------------------------------------------------------------------ 1. models
    def _start_firmware_build(self) -> Proc:
        """The firmware builds (PlatformIO) while the models train."""
        self.firmware_dir = (self.cfg.workdir / "firmware-build").resolve()
        return self.procs.start(
            "firmware-build",
            tinyfleet_cmd(
                "firmware",
                "build",
                "--board",
                "qemu-an386",
                "--pubkey",
                str((self.keys_dir / PUBLIC_NAME).resolve()),
                "--build-dir",
                str(self.firmware_dir),
            ),
            env=self.env,
            cwd=REPO,
        )

    def build_models(self) -> Packages:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from tinyfleet.compiler.build import build
        from tinyfleet.compiler.spec import load_spec
        from tinyfleet.signing import load_trusted_keys

        key = load_signing_key(self.keys_dir / "tinyfleet-signing.key")
        trusted = load_trusted_keys([self.keys_dir / PUBLIC_NAME])
        spec = load_spec(self.cfg.spec)
        out = self.cfg.workdir / "models"
        if self.cfg.prebuilt:
            pre = _Prebuilt(self.cfg.prebuilt[0], next(self.cfg.prebuilt[0].glob("*.tfpkg")))
            return self._variants(pre, None, trusted)
        stages = ("data", "train", "quantize", "convert", "verify", "package", "report")
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=self.console
        ) as p:

            def tracker(label: str) -> Callable[[str], None]:
                task = p.add_task(label, total=len(stages))

                def on_stage(name: str) -> None:
                    p.update(
                        task,
                        completed=stages.index(name) if name in stages else 0,
                        description=f"{label}: {name}",
                    )

                return on_stage

            v1 = build(spec, out / "v1", key, progress=tracker("v1"))
            if self.cfg.retrain_v2:
                spec2 = dataclasses.replace(
                    spec,
                    version="2.0.0",
                    security_counter=2,
                    train=dataclasses.replace(
                        spec.train, seed=spec.train.seed + 1, epochs=spec.train.epochs + 10
                    ),
                )
                v2_path = build(spec2, out / "v2", key, progress=tracker("v2")).package_path
            else:
                v2_path = None
            for task in p.task_ids:
                p.update(task, completed=len(stages))
        return self._variants(v1, v2_path, trusted)

    def _variants(self, v1: Any, v2_path: Path | None, trusted: dict[str, bytes]) -> Packages:
        from tinyfleet.fsutil import atomic_write_bytes
        from tinyfleet.package import read_package, resign

        out = self.cfg.workdir / "models"
        key = load_signing_key(self.keys_dir / "tinyfleet-signing.key")
        base = read_package(v1.package_path, trusted)
        if v2_path is None:
            v2_path = atomic_write_bytes(
                out / "digits-2.0.0.tfpkg", resign(base, key, version="2.0.0", security_counter=2)
            )
        v3 = atomic_write_bytes(
            out / "digits-3.0.0-bad-golden.tfpkg",
            resign(base, key, version="3.0.0", security_counter=3, golden=base.golden.shifted()),
        )
        for label, path in (("v1", v1.package_path), ("v2", v2_path), ("v3", v3)):
            m = read_package(path, trusted).manifest
            acc = m.get("metrics", {}).get("accuracy_int8")
            self.console.print(f"   {label}: {path.name}  ({path.stat().st_size} bytes, int8 accuracy {acc})")
        self.replay_file = self._replay_inputs(base)
        return Packages(v1.package_path, v2_path, v3)

    def _replay_inputs(self, pkg: ModelPackage) -> Path:
        """Digits inputs quantized for the model (int8), for the Linux agent's replay source."""
        import numpy as np
        from sklearn.datasets import load_digits

        spec = pkg.manifest["input"]
        x = load_digits().data.astype(np.float32) / 16.0
        q = np.clip(np.round(x / float(spec["scale"])) + int(spec["zero_point"]), -128, 127).astype(np.int8)
        path = self.cfg.workdir / "replay.npz"
        np.savez(path, x=q)
        return path

    # ------------------------------------------------------------------ 2. server
    def start_server(self) -> None:
        d = self.cfg.workdir / "server"
        d.mkdir(parents=True)
        d.chmod(0o711)
        self.cfg.workdir.chmod(0o711)
        self.http_port = self.cfg.http_port or free_port()
        self.broker_port = free_port()
        admin = "tf_admin_" + secrets.token_urlsafe(18)
        self.server_url = f"http://127.0.0.1:{self.http_port}"
        self.server = self.procs.start(
            "server",
            tinyfleet_cmd(
                "server",
                "--data-dir",
                str(d.resolve()),
                "--port",
                str(self.http_port),
                "--broker-port",
                str(self.broker_port),
                "--trusted-key",
                str((self.keys_dir / PUBLIC_NAME).resolve()),
                "--admin-token",
                admin,
            ),
            env=self.env,
            cwd=d,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.server_url}/api/v1/health", timeout=1).json().get("mqtt_connected"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if not self.server.alive():
                raise ServerError(f"fleet server exited: {self.server.tail()}")
            if time.monotonic() > deadline:
                raise ServerError(f"fleet server not ready in 60 s: {self.server.tail()}")
            time.sleep(0.2)
        self.fleet = FleetClient(self.server_url, admin)
        self.operator_token = self.fleet.token("demo-operator", "operator")
        self.console.print(f"   dashboard: [bold cyan]{self.server_url}/ui/[/bold cyan]")
        self.console.print(f"   operator token: [bold]{self.operator_token}[/bold]")
        self.console.print(
            f"   broker: mqtt://127.0.0.1:{self.broker_port}   logs: {self.cfg.workdir / 'logs'}"
        )

    # ------------------------------------------------------------------ 3. devices
    def start_devices(self, firmware: Proc) -> None:
        self._start_linux_agent()
        self._start_sim()
        self._start_mcus(firmware)
        total = self.cfg.sim_devices + 1 + (self.cfg.mcus + 1 if self.cfg.mcus else 0)  # + edge-01, gateway
        self.fleet.wait(
            f"{total} devices online", lambda: sum(d["online"] for d in self.fleet.devices()) >= total, 120
        )
        self.console.print(f"   {total} devices online")

    def _credentials(self, device_id: str, board: str, cls: str) -> str:
        return str(self.fleet.add_device(device_id, board, {"class": cls, "fleet": "demo"})["secret"])

    def _agent_config(self, device_id: str, secret: str, board: str, folder: Path, extra: str = "") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "secret").write_text(secret + "\n")
        (folder / "secret").chmod(0o600)
        cfg = folder / "agent.toml"
        cfg.write_text(
            f'[device]\nid = "{device_id}"\nsecret_file = "secret"\nboard = "{board}"\nruntime = "litert"\n\n'
            f'[server]\nmqtt = "127.0.0.1:{self.broker_port}"\nhttp = "{self.server_url}"\n\n'
            f'[paths]\nstate_dir = "state"\ntrusted_keys = ["{(self.keys_dir / PUBLIC_NAME).resolve()}"]\n\n'
            f'[serve]\nhttp = "127.0.0.1:{free_port()}"\nunix = ""\n\n'
            f"[telemetry]\nperiod_s = 5.0\n\n{extra}"
        )
        return cfg

    def _start_linux_agent(self) -> None:
        secret = self._credentials("edge-01", "linux-x86_64", "linux")
        cfg = self._agent_config(
            "edge-01",
            secret,
            "linux-x86_64",
            self.cfg.workdir / "agents" / "edge-01",
            f'[replay]\nfile = "{self.replay_file.resolve()}"\nrate_hz = 20.0\n',
        )
        self.procs.start("agent-edge-01", tinyfleet_cmd("agent", "run", "--config", str(cfg)), env=self.env)

    def _start_sim(self) -> None:
        n = self.cfg.sim_devices
        csv = self.cfg.workdir / "sim" / "devices.csv"
        csv.parent.mkdir(parents=True)
        lines = [f"sim-{i:05d},{self._credentials(f'sim-{i:05d}', 'rpi4', 'sim')}" for i in range(n)]
        csv.write_text("\n".join(lines) + "\n")
        csv.chmod(0o600)
        self.drift_flag = self.cfg.workdir / "sim" / "drift-on"
        self.sim = self.procs.start(
            "sim",
            tinyfleet_cmd(
                "sim",
                "--devices",
                str(n),
                "--credentials",
                str(csv),
                "--broker",
                f"127.0.0.1:{self.broker_port}",
                "--http",
                self.server_url,
                "--board",
                "rpi4",
                "--heartbeat",
                "5",
                "--telemetry",
                "5",
                "--download",
                "shared",
                "--drift",
                f"{self.cfg.drift_share}@file:{self.drift_flag}",
                "--pubkey",
                str(self.keys_dir / PUBLIC_NAME),
                "--stats-every",
                "5",
            ),
            env=self.env,
        )

    def _start_mcus(self, firmware: Proc) -> None:
        if self.cfg.mcus == 0:
            return
        self.console.print("   waiting for the firmware build…")
        firmware.popen.wait(600)
        if firmware.popen.returncode != 0:
            raise DeviceError(f"firmware build failed: {firmware.tail()}")
        for line in firmware.log_text().splitlines():
            if re.search(r"flash|RAM", line, re.I):
                self.console.print(f"   {line.strip()}")
        ports, extra = [], ""
        for i in range(1, self.cfg.mcus + 1):
            dev = f"mcu-{i:02d}"
            secret = self._credentials(dev, "qemu-an386", "mcu")
            board_dir = self.cfg.workdir / "boards" / dev
            board = self.procs.start(
                f"qemu-{dev}",
                tinyfleet_cmd(
                    "firmware",
                    "flash",
                    "--board",
                    "qemu-an386",
                    "--build-dir",
                    str(self.firmware_dir),
                    "--workdir",
                    str(board_dir.resolve()),
                    "--device-id",
                    dev,
                ),
                env=self.env,
                cwd=REPO,
            )
            url = board.wait_for(r"socket://127\.0\.0\.1:\d+", 60).group(0)
            ports.append(url)
            extra += (
                f'[[gateway.devices]]\nid = "{dev}"\nsecret = "{secret}"\nserial = "{url}"\n'
                f'board = "qemu-an386"\n\n'
            )
            self.console.print(f"   {dev}: QEMU mps2-an386 on {url}")
        # The gateway is a Linux board too: it runs the model as its own device, and each MCU behind it
        # connects with the MCU's own credentials.
        secret = self._credentials("gateway-01", "linux-x86_64", "gateway")
        cfg = self._agent_config(
            "gateway-01", secret, "linux-x86_64", self.cfg.workdir / "agents" / "gateway-01", extra
        )
        args = ["agent", "run", "--config", str(cfg)]
        for url in ports:
            args += ["--serial", url]
        self.procs.start("agent-gateway-01", tinyfleet_cmd(*args), env=self.env)

    # ------------------------------------------------------------------ 4. v1, v2
    def _all_devices(self) -> list[str]:
        return [d["id"] for d in self.fleet.devices() if d.get("tags", {}).get("fleet") == "demo"]

    def _run_rollout(
        self,
        name: str,
        version: str,
        stages: list[dict[str, Any]],
        health: dict[str, Any] | None,
        timeout: float,
    ) -> dict[str, Any]:
        r = self.fleet.create_rollout(
            name=name,
            model="digits",
            version=version,
            target={"selector": {"fleet": "demo"}},
            stages=stages,
            health=health,
        )
        self.console.print(f"   rollout {r['id']} ({name}): {len(stages)} stage(s)")
        seen: set[str] = set()

        def tick(s: dict[str, Any]) -> None:
            line = f"stage {s.get('stage')} {s.get('status')} {json.dumps(s.get('assignments', {}), sort_keys=True)}"
            if line not in seen:
                seen.add(line)
                self.console.print(f"   [dim]{line}[/dim]")

        final = self.fleet.wait_rollout(int(r["id"]), timeout, tick)
        self.outcomes.append(
            {
                "id": r["id"],
                "name": name,
                "version": version,
                "status": final.get("status"),
                "assignments": final.get("assignments", {}),
            }
        )
        return final

    def rollouts_v1_v2(self, pkgs: Packages) -> None:
        for p in (pkgs.v1, pkgs.v2):
            m = self.fleet.publish(p.read_bytes())
            self.console.print(f"   published {m.get('name')} {m.get('version')}")
        final = self._run_rollout(
            "v1-to-all", "1.0.0", [{"name": "all", "percent": 100, "success_share": 0.95}], None, 300
        )
        if final.get("status") != "succeeded":
            raise ServerError(f"the v1 rollout ended {final.get('status')}")
        canary = ["edge-01", "mcu-01", *[f"sim-{i:05d}" for i in range(min(3, self.cfg.sim_devices))]]
        canary = [c for c in canary if c in self._all_devices()]
        stages = [
            {"name": "canary", "devices": canary, "success_share": 1.0, "soak_s": 5},
            {"name": "25pct", "percent": 25, "success_share": 0.95, "soak_s": 2},
            {"name": "all", "percent": 100, "success_share": 0.95},
        ]
        final = self._run_rollout("v2-staged", "2.0.0", stages, None, 420)
        if final.get("status") != "succeeded":
            raise ServerError(f"the v2 rollout ended {final.get('status')}")

    # ------------------------------------------------------------------ 5. drift
    def inject_drift(self) -> None:
        self.drift_flag.write_text("on\n")
        self.console.print(f"   {self.cfg.drift_share:.0%} of the simulated devices now see shifted inputs")

        def alert() -> bool:
            rows = []
            for model in self.fleet.drift(name="digits"):
                if model.get("alert"):
                    rows.append(
                        {
                            "subject": model["model"],
                            "input_psi": model.get("input"),
                            "output_psi": model.get("output"),
                            "n": model.get("n"),
                        }
                    )
                rows += [
                    {
                        "subject": f"{d['device_id']} ({model['model']})",
                        "input_psi": d.get("input"),
                        "output_psi": d.get("output"),
                        "n": d.get("n"),
                    }
                    for d in model.get("per_device", [])
                    if d.get("alert")
                ]
            self.drift_report = rows
            return bool(rows)

        self.fleet.wait("a drift alert", alert, 180, poll=2)
        settle = time.monotonic() + 35  # alerts are evaluated every 30 s: let the next round raise the rest
        while time.monotonic() < settle:
            time.sleep(3)
            alert()
        for model in self.fleet.drift(name="digits"):
            if model.get("input") is not None:
                self.console.print(
                    f"   fleet on {model['model']}: input PSI {model['input']:.3f}, output PSI "
                    f"{model['output']:.3f}, mean confidence {model['mean_confidence']:.3f} over "
                    f"{model['n']} inferences from {model['reporting']} devices"
                )
        devices = [r for r in self.drift_report if "(" in r["subject"]]
        self.console.print(f"   {len(devices)} device(s) in drift alert")
        for row in self.drift_report[:8]:
            self.console.print(
                f"   [yellow]drift alert[/yellow] {row['subject']}: input PSI {row['input_psi']:.2f}, "
                f"output PSI {row['output_psi']:.2f} over {row['n']} inferences"
            )

    # ------------------------------------------------------------------ 6. v3
    def rollout_v3(self, pkgs: Packages) -> None:
        m = self.fleet.publish(pkgs.v3.read_bytes())
        self.console.print(
            f"   published {m.get('name')} {m.get('version')} (golden outputs do not match the model)"
        )
        self.canary_v3 = [c for c in ("edge-01", "mcu-01") if c in self._all_devices()]
        stages = [
            {"name": "canary", "devices": self.canary_v3, "success_share": 1.0, "error": {"max_failed": 0}},
            {"name": "25pct", "percent": 25, "success_share": 0.95},
            {"name": "all", "percent": 100, "success_share": 0.95},
        ]
        final = self._run_rollout("v3-staged", "3.0.0", stages, None, 300)
        if final.get("status") not in ("aborted", "rolled_back"):
            raise ServerError(
                f"the v3 rollout should have been stopped by its canary, but ended {final.get('status')}"
            )
        leaked = [
            d["id"]
            for d in self.fleet.devices()
            if d["id"] not in self.canary_v3
            and (
                (d.get("model") or {}).get("version") == "3.0.0"
                or ((d.get("desired") or {}).get("model") or {}).get("version") == "3.0.0"
            )
        ]
        if leaked:
            raise ServerError(f"v3 reached devices outside the canary: {', '.join(leaked[:10])}")
        self.console.print(
            f"   rollout {final.get('status')}; v3 never reached a device outside the canary "
            f"({', '.join(self.canary_v3)})"
        )

    # ------------------------------------------------------------------ serve
    def serve(self) -> None:
        self.console.print(
            f"\ndashboard: [bold cyan]{self.server_url}/ui/[/bold cyan]  operator token: "
            f"[bold]{self.operator_token}[/bold]"
        )
        if self.cfg.duration is not None and self.cfg.duration <= 0:
            return
        self.console.print(
            "serving; Ctrl-C to stop"
            if self.cfg.duration is None
            else f"serving for {self.cfg.duration:.0f} s"
        )
        deadline = None if self.cfg.duration is None else time.monotonic() + self.cfg.duration
        while deadline is None or time.monotonic() < deadline:
            self.procs.check_alive()
            time.sleep(1)
