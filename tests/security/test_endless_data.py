"""Endless data (TUF): a real local HTTP server that streams bytes forever (no Content-Length, or a
lying one) is cut at the signed size by the download step the agent and the gateway share
(``tinyfleet.agent.fetch.Fetcher``): the step ends, nothing beyond the signed size is written, and
the server got to send only what the socket buffers held when the device hung up."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinyfleet import wire
from tinyfleet.agent.fetch import Fetcher
from tinyfleet.agent.reconcile import Outcome

SIZE = 200_000
BLOCK = b"\xaa" * 65536
GIVE_UP = 64 * 2**20  # "forever": a device without the cap would take all of it (and the test fail)


class EndlessHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        srv = self.server
        assert isinstance(srv, EndlessServer)
        self.send_response(200)
        if srv.lie_length:
            self.send_header("Content-Length", str(SIZE))  # claims the signed size, sends forever
        else:
            self.send_header("Connection", "close")  # close-delimited: no length at all
        self.end_headers()
        try:
            while not srv.stopping.is_set() and srv.sent < GIVE_UP:
                self.wfile.write(BLOCK)
                with srv.lock:
                    srv.sent += len(BLOCK)
        except OSError:
            pass  # the client hung up: what we want
        finally:
            srv.done.set()

    def log_message(self, *_a: object) -> None:
        pass


class EndlessServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, lie_length: bool) -> None:
        super().__init__(("127.0.0.1", 0), EndlessHandler)
        self.lie_length = lie_length
        self.sent = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.stopping = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(params=[False, True], ids=["no-length", "lying-length"])
def endless(request: pytest.FixtureRequest) -> Iterator[EndlessServer]:
    srv = EndlessServer(request.param)
    yield srv
    srv.stopping.set()
    srv.shutdown()
    srv.server_close()


def test_download_is_cut_at_the_signed_size(endless: EndlessServer, tmp_path: Path) -> None:
    model = wire.DesiredModel(
        name="tiny",
        version="1.0.0",
        sha256="ab" * 32,
        size=SIZE,
        security_counter=1,
        url=f"http://127.0.0.1:{endless.server_address[1]}/api/v1/artifacts/{'ab' * 32}",
    )
    fetcher = Fetcher(tmp_path / "dl", "http://unused", ("dev-1", "secret"), {}, ("model.tflite",))
    result = asyncio.run(asyncio.wait_for(fetcher.download(model, 0), 60))
    if endless.lie_length:  # read exactly the signed size, then the digest check refuses it
        assert result.outcome is Outcome.OK, result
        verified, pkg = asyncio.run(fetcher.verify(model, 0))
        assert verified.outcome is Outcome.RETRY and pkg is None, verified
    else:
        assert result.outcome is Outcome.RETRY, result
        assert "more than the expected" in result.detail, result.detail
    written = sum(p.stat().st_size for p in (tmp_path / "dl").glob("*")) if (tmp_path / "dl").exists() else 0
    assert written <= SIZE
    assert endless.done.wait(30), "the device never hung up"
    # the server only filled the socket buffers beyond what the device read (a few MiB at most)
    assert endless.sent < SIZE + 16 * 2**20, endless.sent
