"""Local inference endpoint: HTTP on localhost and/or a Unix socket.

    POST /v1/infer   {"input": [int8, ...]}                 -> {"output": [...], "class": k,
                     {"input": [float, ...], "float": true}     "confidence": p, "model": name,
                     or raw int8 bytes (application/octet-stream)  "version": v, "latency_us": t}
    GET  /v1/model   the active model (name, version, sha256, input/output tensor specs)
    GET  /healthz    200 when a model is active, 503 otherwise

Requests run on threads (the model holder is thread-safe) and never wait on the agent's event loop,
so an update in progress does not stall inference. Errors are JSON ``{"error": "..."}`` with 400
(bad input) or 503 (no model).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import socketserver
import threading
from typing import Any, Protocol

import numpy as np

from tinyfleet.agent.config import parse_hostport
from tinyfleet.agent.hotswap import InferenceResult, NoModel
from tinyfleet.agent.runtimes import LoadedModel
from tinyfleet.errors import DataError, UsageError

__all__ = ["Endpoint", "Inferer"]

MAX_BODY = 4 * 1024 * 1024


class Inferer(Protocol):
    def infer(self, x: np.ndarray) -> InferenceResult: ...

    @property
    def hotswap(self) -> Any: ...


def _parse_input(body: bytes, content_type: str, model: LoadedModel) -> np.ndarray:
    if content_type.startswith("application/octet-stream"):
        return np.frombuffer(body, dtype=np.int8)
    try:
        req = json.loads(body)
        values = req["input"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise DataError('body must be JSON {"input": [...]} or raw int8 bytes') from None
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if req.get("float"):
        return model.input.quantize(arr)
    if arr.size and (arr.min() < -128 or arr.max() > 127 or np.any(arr != np.round(arr))):
        raise DataError(
            'int8 input values must be integers in -128..127 (send "float": true for real values)'
        )
    return arr.astype(np.int8)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            # headers and body are separate writes: without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def address_string(self) -> str:
        return "unix" if isinstance(self.client_address, str | bytes) else super().address_string()

    def _send(self, status: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        model = self.server.agent.hotswap.active
        if self.path == "/healthz":
            self._send(200 if model else 503, {"ok": model is not None})
        elif self.path == "/v1/model":
            if model is None:
                self._send(503, {"error": "no model is active yet"})
                return
            self._send(
                200,
                {
                    "name": model.name,
                    "version": model.version,
                    "sha256": model.sha256,
                    "runtime": model.runtime,
                    "input": {
                        "shape": list(model.input.shape),
                        "scale": model.input.scale,
                        "zero_point": model.input.zero_point,
                    },
                    "output": {
                        "shape": list(model.output.shape),
                        "scale": model.output.scale,
                        "zero_point": model.output.zero_point,
                    },
                },
            )
        else:
            self._send(404, {"error": f"no such path {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/v1/infer":
            self._send(404, {"error": f"no such path {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._send(400, {"error": f"a request body of 1..{MAX_BODY} bytes is required"})
            return
        body = self.rfile.read(length)
        agent = self.server.agent
        model = agent.hotswap.active
        if model is None:
            self._send(503, {"error": "no model is active yet"})
            return
        try:
            x = _parse_input(body, self.headers.get("Content-Type", ""), model)
            res = agent.infer(x)
        except DataError as exc:
            self._send(400, {"error": str(exc)})
            return
        except NoModel as exc:
            self._send(503, {"error": str(exc)})
            return
        y = res.output
        top = int(np.argmax(y))
        conf = float((int(y[top]) - res.model.output.zero_point) * res.model.output.scale)
        self._send(
            200,
            {
                "output": y.tolist(),
                "class": top,
                "confidence": round(conf, 5),
                "model": res.model.name,
                "version": res.model.version,
                "latency_us": round(res.latency_us, 1),
            },
        )


class _TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Endpoint:
    def __init__(self, agent: Inferer, http_addr: str = "", unix_path: str = "") -> None:
        self.agent = agent
        self.servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self.http_addr = http_addr
        self.unix_path = unix_path

    def start(self) -> None:
        try:
            if self.http_addr:
                host, port = parse_hostport(self.http_addr, 8701)
                tcp = _TCPServer((host, port), _Handler)
                tcp.agent = self.agent  # type: ignore[attr-defined]
                self.servers.append(tcp)
            if self.unix_path:
                with contextlib.suppress(FileNotFoundError):
                    if os.path.exists(self.unix_path) and not _socket_alive(self.unix_path):
                        os.unlink(self.unix_path)
                unix = _UnixServer(self.unix_path, _Handler)
                unix.agent = self.agent  # type: ignore[attr-defined]
                self.servers.append(unix)
        except OSError as exc:
            self.stop()
            raise UsageError(f"cannot open the inference endpoint: {exc.strerror or exc}") from None
        for srv in self.servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            t.start()
            self._threads.append(t)

    @property
    def port(self) -> int | None:
        for s in self.servers:
            if isinstance(s, _TCPServer):
                return int(s.server_address[1])
        return None

    def stop(self) -> None:
        for srv in self.servers:
            if self._threads:  # serve_forever runs: stop it first
                srv.shutdown()
            srv.server_close()
        self.servers.clear()
        self._threads.clear()
        if self.unix_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_path)


def _socket_alive(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False
