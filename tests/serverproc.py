"""``pulserec serve`` in a subprocess, for tests that speak real HTTP to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from redisproc import free_port


class ServerProcess:
    """``pulserec serve ARGS`` on a free loopback port; ready once ``/healthz`` answers.

    Parameters
    ----------
    args : list of str
        Arguments after ``serve`` (the port and host are added here).
    log : Path
        Where the server's output goes; its text is shown when the server fails to start.
    env : dict, optional
        Extra environment variables.
    """

    def __init__(
        self, args: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pulserec.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), *args],
            env=os.environ | (env or {}), stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"server not ready after {timeout}s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed on the way out."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in 15 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
