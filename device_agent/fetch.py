"""Download and verify a desired package for one device: the DOWNLOAD and VERIFY steps shared by
the Linux agent and the MCU gateway.

VERIFY checks, in order, and fails closed: the file's sha256 equals the desired one (else RETRY:
fetch again); the package verifies (Ed25519 signature by a trusted key, every digest, canonical
bytes); name, version and security counter equal the desired ones; the security counter is not
below the device's floor (anti-rollback); the package carries what this device runs
(``needs_any``) and, when ``board`` is set, lists the board (else INCOMPATIBLE).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tinyfleet import wire
from tinyfleet.agent.download import DigestMismatch, DownloadError, download, sha256_file
from tinyfleet.agent.reconcile import Outcome, StepResult
from tinyfleet.errors import PackageError
from tinyfleet.package import ModelPackage, read_package

__all__ = ["Fetcher"]

ProgressSink = Callable[[wire.EventType, wire.DesiredModel, str, float], None]


class Fetcher:
    def __init__(
        self,
        folder: Path,
        http_base: str,
        auth: tuple[str, str],
        trusted_keys: Mapping[str, bytes],
        needs_any: tuple[str, ...],
        board: str | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.folder = folder
        self.http_base = http_base
        self.auth = auth
        self.trusted_keys = trusted_keys
        self.needs_any = needs_any
        self.board = board
        self.progress = progress
        self.last_corrupt = ""

    def path(self, model: wire.DesiredModel) -> Path:
        return self.folder / f"{model.sha256}.tfpkg"

    async def download(self, model: wire.DesiredModel, attempt: int) -> StepResult:
        url = model.url if model.url.startswith(("http://", "https://")) else self.http_base + model.url
        if self.folder.is_dir():  # partial files of other packages are stale now
            for old in self.folder.glob("*.part"):
                if not old.name.startswith(model.sha256):
                    old.unlink(missing_ok=True)
        last = [0.0]
        loop = asyncio.get_running_loop()
        sink = self.progress

        def progress(have: int, total: int) -> None:  # runs on the download thread
            now = time.monotonic()
            if sink is not None and now - last[0] >= 1.0:
                last[0] = now
                loop.call_soon_threadsafe(
                    sink, wire.EventType.DOWNLOAD_PROGRESS, model, "", round(have / total, 3)
                )

        try:
            await download(url, self.path(model), model.size, model.sha256, auth=self.auth, progress=progress)
        except DigestMismatch as exc:
            self.last_corrupt = str(exc)  # VERIFY reports it; the table sends the update back to DOWNLOAD
        except DownloadError as exc:
            return StepResult(Outcome.RETRY, f"attempt {attempt + 1}: {exc}")
        return StepResult.ok(f"downloaded {model.size} bytes")

    async def verify(self, model: wire.DesiredModel, floor: int) -> tuple[StepResult, ModelPackage | None]:
        path = self.path(model)
        if not path.exists() or sha256_file(path) != model.sha256:
            path.unlink(missing_ok=True)
            detail, self.last_corrupt = (
                self.last_corrupt or "package digest does not match the desired sha256",
                "",
            )
            return StepResult(Outcome.RETRY, detail), None
        try:
            pkg = await asyncio.to_thread(read_package, path, self.trusted_keys)
        except PackageError as exc:
            return StepResult(Outcome.FAIL, str(exc)), None
        if (pkg.name, pkg.version, pkg.security_counter) != (
            model.name,
            model.version,
            model.security_counter,
        ):
            return StepResult(
                Outcome.FAIL,
                f"package is {pkg.name} {pkg.version} #{pkg.security_counter}, "
                f"desired {model.name} {model.version} #{model.security_counter}",
            ), None
        if pkg.security_counter < floor:
            return StepResult(
                Outcome.FAIL, f"anti-rollback: security counter {pkg.security_counter} < {floor}"
            ), None
        if not any(n in pkg.members for n in self.needs_any):
            return StepResult(Outcome.INCOMPATIBLE, f"package has none of {', '.join(self.needs_any)}"), None
        if self.board is not None and self.board not in pkg.boards:
            return StepResult(Outcome.INCOMPATIBLE, f"package is not built for board {self.board}"), None
        return StepResult.ok("signature, digests and security counter verified"), pkg

    def discard(self, model: wire.DesiredModel, keep_partial: bool = False) -> None:
        """Delete the downloaded package; ``keep_partial`` keeps a ``.part`` so a retry resumes it."""
        self.path(model).unlink(missing_ok=True)
        if not keep_partial:
            self.path(model).with_name(self.path(model).name + ".part").unlink(missing_ok=True)
