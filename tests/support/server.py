"""The real studio served from its own process, as on a server: for measuring its memory, reading its log,
and testing what a whole restart does. (Most app tests share the in-process app of `tests/conftest.py`.)"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAUNCH = ("from studio.ui.app import build_demo, launch_options\n"
          "import os\n"
          "build_demo().launch(server_name='127.0.0.1', server_port=int(os.environ['GRADIO_SERVER_PORT']), "
          "quiet=True, **launch_options())\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StudioServer:
    """`python -c <launch the app>` in a child process with its own STUDIO_HOME; stdout and stderr go to
    `log` (a file). Use as a context manager; `client()` connects gradio_client."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, checkpoints: Path | None = None):
        self.root = Path(root)
        self.home = self.root / "home"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "STUDIO_HOME": str(self.home), "GRADIO_SERVER_PORT": str(self.port),
                    "GRADIO_TEMP_DIR": str(self.root / "gradio"), "TMPDIR": str(self.root / "tmp"),
                    "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}
        if checkpoints is not None:
            self.env["STUDIO_CHECKPOINTS"] = str(checkpoints)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "StudioServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 180) -> None:
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH], cwd=REPO, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the server did not answer in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server dies mid-work, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def client(self, **kwargs):
        from gradio_client import Client

        return Client(self.url, verbose=False, **kwargs)

    # -- memory ---------------------------------------------------------------------------------------
    def _status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def rss_mb(self) -> float:
        """The server's resident memory now, in MB."""
        return self._status_kb("VmRSS") / 1024

    def peak_during(self, action) -> tuple[float, float]:
        """(resident MB before `action()`, peak resident MB while it ran). The kernel's high-water mark is
        reset first where it allows (/proc/<pid>/clear_refs); a sampler every 5 ms backs it up."""
        before = self.rss_mb()
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
            hwm = True
        except OSError:
            hwm = False
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], self.rss_mb())
                except (OSError, KeyError):
                    return
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            action()
        finally:
            done.set()
            sampler.join()
        if hwm:
            peak[0] = max(peak[0], self._status_kb("VmHWM") / 1024)
        return before, peak[0]
