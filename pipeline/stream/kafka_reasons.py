"""What aiokafka logs while it tries to reach a broker, collected for the one line a command prints.

aiokafka logs each server it could not reach (``ERROR aiokafka: Unable connect to "host:port": why``)
and then raises an error that names none of the reasons (``Unable to bootstrap from [...]``).
Collected here, the reasons go into the one line the worker, ``replay`` and ``feedback`` print
when no broker answers, and nothing reaches the log.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


class Reasons(logging.Handler):
    """Collects what aiokafka logs (one line each, ``host:port: why`` where it names a server)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) == 3 and str(record.msg).startswith("Unable"):  # 'Unable connect to "%s:%s": %s'
            self.lines.append(f"{args[0]}:{args[1]}: {args[2]}")
        else:
            self.lines.append(record.getMessage())

    def why(self, exc: BaseException, servers: list[str]) -> str:
        """The collected reasons, else ``exc``; with one server, without its address (the message names it)."""
        why = "; ".join(self.lines) if self.lines else f"{type(exc).__name__}: {exc}"
        return why.removeprefix(f"{servers[0]}: ") if len(servers) == 1 else why


@contextlib.contextmanager
def aiokafka_reasons() -> Iterator[Reasons]:
    """aiokafka's log, while inside, goes to the Reasons yielded, not to the log."""
    reasons = Reasons()
    aiokafka_log = logging.getLogger("aiokafka")
    propagate, aiokafka_log.propagate = aiokafka_log.propagate, False
    aiokafka_log.addHandler(reasons)
    try:
        yield reasons
    finally:
        aiokafka_log.removeHandler(reasons)
        aiokafka_log.propagate = propagate
