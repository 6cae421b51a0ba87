"""Run ``buzzwatch worker`` as a child process (for `make run` and the integration tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pipeline.devtools.broker import free_port


class WorkerProcess:
    """A worker subprocess with its own metrics/web ports, log file and data dir."""

    def __init__(self, bootstrap: str, workdir: Path, env: dict[str, str] | None = None,
                 log_name: str = "worker.log", loglevel: str = "info") -> None:
        self.bootstrap = bootstrap
        self.workdir = Path(workdir)
        self.metrics_port = free_port()
        self.web_port = free_port()
        self.log_path = self.workdir / log_name
        # Its own table store, as each pod has (RocksDB locks its files); a restart under the same
        # log name finds it again, as a restarted container finds its emptyDir.
        self.data_dir = self.workdir / ("data" if log_name == "worker.log" else f"data-{Path(log_name).stem}")
        self.extra_env = env or {}
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
               "BUZZWATCH_METRICS_PORT": str(self.metrics_port), "BUZZWATCH_WEB_PORT": str(self.web_port),
               "BUZZWATCH_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1",
               # Tansu (memory storage) reports a partition's end as the last *batch*'s base offset + 1,
               # so Faust's table recovery would skip the last batch of a changelog: one record a batch.
               "BUZZWATCH_PRODUCER_MAX_BATCH_BYTES": "16",
               # Tansu answers a fetch when its wait is over, not when a record arrives.
               "BUZZWATCH_FETCH_MAX_WAIT_MS": "100", **self.extra_env}
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child; a fresh log per start
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", self.loglevel], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
        log.close()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the consumer group has formed and the agents run (Faust logs 'Worker ready')."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if b"Worker ready" in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def sample(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (0 if absent)."""
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if _canonical(key) == want:
                return float(value)
        return 0.0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def children(self) -> dict[int, str]:
        """The processes the worker started (its scoring child: stream/offload.py): pid -> command line."""
        if self.proc is None:
            return {}
        out = {}
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                for pid in (task / "children").read_text().split():
                    out[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:  # gone meanwhile
                continue
        return out

    def kill(self) -> None:
        """SIGKILL, as Kubernetes or the OOM killer would: no clean shutdown, no final commit."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def _canonical(key: str) -> str:
    if "{" not in key:
        return key
    name, _, rest = key.partition("{")
    parts = sorted(p for p in rest.rstrip("}").split(",") if p)
    return name + "{" + ",".join(parts) + "}"
