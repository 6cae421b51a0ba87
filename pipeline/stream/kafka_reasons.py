"""What aiokafka logs while it tries to reach a broker, collected for the one line a command prints.

aiokafka logs each server it could not reach (``ERROR aiokafka: Unable connect to "host:port": why``)
and then raises an error that names none of the reasons (``Unable to bootstrap from [...]``).
Collected here, the reasons go into the one line ``replay`` and ``feedback`` print when their producer
cannot start, and nothing reaches the log. The broker check that the worker runs at start-up, and
``replay`` and ``feedback`` before their producer (stream/broker_check.py), asks each server itself
and has its reasons from the exceptions: it only keeps aiokafka's log out.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class Reasons(logging.Handler):
    """Collects what aiokafka logs (one line each, ``host:port: why`` where it names a server).
    ``timeout_s``: the clients' request timeout, named when a server timed out (aiokafka's
    TimeoutError says nothing)."""

    def __init__(self, timeout_s: float | None = None) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.timeout_s = timeout_s

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 3 and str(record.msg).startswith("Unable"):  # 'Unable connect to "%s:%s": %s'
            self.lines.append(f"{args[0]}:{args[1]}: {self._said(args[2])}")
        else:
            self.lines.append(record.getMessage())

    def _said(self, reason: object) -> str:
        if str(reason):
            return str(reason)
        if isinstance(reason, TimeoutError):
            return f"no answer within {self.timeout_s:g} s" if self.timeout_s else "no answer"
        return type(reason).__name__

    def why(self, exc: BaseException, servers: list[str]) -> str:
        """The collected reasons, else ``exc``; with one server, without its address (the message names it)."""
        why = "; ".join(self.lines) if self.lines else f"{type(exc).__name__}: {exc}"
        return why.removeprefix(f"{servers[0]}: ") if len(servers) == 1 else why


@contextlib.contextmanager
def aiokafka_reasons(timeout_s: float | None = None) -> Iterator[Reasons]:
    """aiokafka's log, while inside, goes to the Reasons yielded, not to the log."""
    reasons = Reasons(timeout_s)
    aiokafka_log = logging.getLogger("aiokafka")
    propagate, aiokafka_log.propagate = aiokafka_log.propagate, False
    aiokafka_log.addHandler(reasons)
    try:
        yield reasons
    finally:
        aiokafka_log.removeHandler(reasons)
        aiokafka_log.propagate = propagate
