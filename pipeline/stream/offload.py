"""The scorer in a child process: scoring on one core while the worker counts and detects on another.

A worker is one Python process, and one mention's scoring costs about as much as all the rest of its
path (issue #7: the scorer alone ~92,000 mentions/s, the streaming machinery alone ~100,000/s, both
one after the other ~41,000/s). With ``BUZZWATCH_SCORER_PROCESSES=1`` the ingest handler decodes and
attributes a fetch (``Ingestor.prepare``), hands its texts to a child process and goes on with the
next fetch; ``InOrder`` counts each fetch once its scores are back, in the order they were fetched.

The child is ``python -m pipeline.stream.offload``: frames on its stdin and stdout, each a 4-byte
length and a pickle (the child is our own program, started by us: nothing else writes to its pipes).
It scores with a ``Scorer`` holding the worker's learned state: the worker's own scorer still learns
from feedback and keeps the state (stream/learning.py), and ``sync_state`` sends it over whenever it
changed, ahead of the next texts. A child that dies fails every fetch in flight, which crashes the
worker: those fetches were never acknowledged, so they are read again after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pickle
import signal
import struct
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

HEADER = struct.Struct("<I")
READY = "ready"
PIPE_BYTES = 1 << 20


class ScorerProcessError(RuntimeError):
    """The scoring child died or failed a request."""


class ScorerProcess:
    """One child scoring texts, answering in the order asked."""

    def __init__(self, state_key: object = None, env: dict[str, str] | None = None,
                 on_broken: Callable[[ScorerProcessError], object] | None = None) -> None:
        """``state_key``: the key (``sync_state``) of the state a fresh Scorer has, the child's own.
        ``on_broken``: called once if the child dies (or answers out of turn) before ``stop``, even
        with nothing asked: the worker stops then, not at its next fetch, which may be hours away."""
        self.env = env
        self.on_broken = on_broken
        self._stopping = False
        self.proc: asyncio.subprocess.Process | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._reader: asyncio.Task[None] | None = None
        self._started: asyncio.Future[None] | None = None
        self._state_key = state_key
        self._broken: ScorerProcessError | None = None

    async def spawn(self) -> None:
        """Start the child process, without waiting for it to load its scorer (~2 s): the worker calls
        this first thing, so the child loads while the worker joins its group."""
        if self.proc is None:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pipeline.stream.offload", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=self.env if self.env is not None else child_env(os.environ),
                limit=1 << 26)

    async def start(self) -> None:
        """Start the child once (later calls wait for the same start); returns when it can score."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await self.spawn()
        if await self._read_frame() != READY:
            raise ScorerProcessError("the scoring process did not start")
        self._reader = asyncio.ensure_future(self._read_answers())

    async def score(self, texts: list[str], langs: list[str | None]) -> asyncio.Future[list[tuple[float, str, str]]]:
        """Send ``texts`` to be scored; the returned future gets one (negativity, sentiment, lang) each."""
        return await self._ask(("score", texts, langs))

    async def sync_state(self, key: object, state: Callable[[], dict[str, Any]]) -> None:
        """Send ``state()`` (a ``Scorer.to_state``) if ``key`` differs from the last one sent: the
        texts sent after it are scored with it."""
        if key != self._state_key:
            self._state_key = key
            await self._ask(("state", state()))

    async def _ask(self, request: tuple[Any, ...]) -> asyncio.Future[Any]:
        await self.start()
        assert self.proc is not None and self.proc.stdin is not None
        if self._broken is not None:
            raise self._broken
        if self.proc.returncode is not None:
            raise ScorerProcessError(f"the scoring process exited ({self.proc.returncode})")
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        # Not drained: the pipe holds 64 KiB and a fetch's texts are more, which would wait here until
        # the child finished the fetch before; the transport buffers it (``InOrder`` bounds how much).
        self.proc.stdin.write(HEADER.pack(len(payload)) + payload)
        return answer

    async def _read_frame(self) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            size, = HEADER.unpack(await self.proc.stdout.readexactly(HEADER.size))
            return pickle.loads(await self.proc.stdout.readexactly(size))
        except asyncio.IncompleteReadError:
            code = await self.proc.wait()
            raise ScorerProcessError(f"the scoring process exited ({code})") from None

    async def _read_answers(self) -> None:
        try:
            while True:
                kind, value = await self._read_frame()
                answer = self._waiting.popleft()
                if kind == "error":
                    answer.set_exception(ScorerProcessError(f"the scoring process failed: {value}"))
                elif kind == "scores":
                    negativity, sentiment, langs = value
                    answer.set_result(list(zip(negativity, sentiment, langs, strict=True)))
                else:
                    answer.set_result(value)
        except Exception as exc:  # the child is gone (or spoke out of turn): what is awaited fails,
            self._broken = exc if isinstance(exc, ScorerProcessError) else ScorerProcessError(
                f"the scoring process's answers broke off: {exc!r}")
            while self._waiting:
                self._waiting.popleft().set_exception(self._broken)  # and every question after (``_ask``)
            if self.on_broken is not None and not self._stopping:
                self.on_broken(self._broken)

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the child's input (it exits at its end) and wait for it; killed after ``timeout``."""
        self._stopping = True
        if self.proc is None or self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def child_env(environ: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    """The worker's environment for the child, without the worker's allocator settings
    (stream/heap.py): the scorer's many short-lived small objects are what pymalloc is best at, and
    the child holds no brand state to give back to the system."""
    env = dict(environ)
    for name in ("PYTHONMALLOC", "LD_PRELOAD"):
        env.pop(name, None)
    return env


class InOrder:
    """Finishes fetches in the order they were started, at most ``depth`` under way at once.

    ``submit(work)`` waits while ``depth`` fetches are under way, then starts ``work`` (a coroutine
    that awaits its scores, counts its mentions and returns the writes it started) after the one
    before it finished its counting; it returns an awaitable done once the writes are acknowledged,
    which is what makes the fetch's offsets committable (stream/batches.py). A failure fails every
    fetch after it, whose counting never starts.
    """

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._under_way: deque[asyncio.Future[Any]] = deque()
        self._last: asyncio.Future[list[Awaitable[Any]]] | None = None

    async def submit(self, work: Callable[[], Awaitable[list[Awaitable[Any]]]]) -> Awaitable[Any]:
        while len(self._under_way) >= self.depth:
            await asyncio.wait([self._under_way[0]])
            self._under_way.popleft()
        counted = asyncio.ensure_future(self._after(self._last, work))
        self._last = counted
        acknowledged = asyncio.ensure_future(self._acknowledged(counted))
        self._under_way.append(counted)
        return acknowledged

    @staticmethod
    async def _after(before: asyncio.Future[Any] | None,
                     work: Callable[[], Awaitable[list[Awaitable[Any]]]]) -> list[Awaitable[Any]]:
        if before is not None:
            await asyncio.shield(before)  # its failure is ours too
        return await work()

    @staticmethod
    async def _acknowledged(counted: asyncio.Future[list[Awaitable[Any]]]) -> None:
        await asyncio.gather(*await asyncio.shield(counted))

    async def drain(self) -> None:
        """Wait until every fetch started has been counted (a rebalance: before partitions move);
        failures are left to the acknowledgements that carry them."""
        if self._last is not None:
            await asyncio.gather(asyncio.shield(self._last), return_exceptions=True)
        self._under_way.clear()


def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The child: load the scorer, then answer frames until the input ends."""
    from pipeline.core.scoring import Scorer  # here: the worker's own imports stay unchanged
    from pipeline.stream.heap import tune_gc

    scorer = Scorer()
    tune_gc()  # the scorer's ~1 million long-lived objects out of the collector's scans, as in the worker

    def send(value: Any) -> None:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(HEADER.pack(len(payload)) + payload)
        stdout.flush()

    send(READY)
    while header := stdin.read(HEADER.size):
        if len(header) < HEADER.size:
            return
        size, = HEADER.unpack(header)
        request = pickle.loads(stdin.read(size))
        try:
            if request[0] == "score":
                scores = scorer.score_batch(request[1], request[2])
                send(("scores", ([s.negativity for s in scores], [s.sentiment for s in scores],
                                 [s.lang for s in scores])))
            elif request[0] == "state":
                scorer = Scorer.from_state(request[1])
                send(("state", None))
            else:
                send(("error", f"unknown request {request[0]!r}"))
        except Exception as exc:  # reported, and the worker crashes: scores are never guessed
            send(("error", repr(exc)))


def _widen(fd: int) -> None:
    """A pipe of 1 MiB (Linux; 64 KiB by default): a fetch's texts go in at once, while the worker's
    event loop is free to write, instead of a piece each time its loop comes round."""
    with contextlib.suppress(OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size: the default size
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)


if __name__ == "__main__":
    # The worker ends the child by closing its input (its own death closes it too). A Ctrl-C in a
    # terminal or a SIGTERM sent to the worker's whole process group is the worker's to handle: a child
    # dying of it first would look like a crash in the middle of the worker's orderly stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The frames get the real stdout; anything else printed there (a library's message) goes to stderr.
    _protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _widen(0)
    _widen(_protocol_out.fileno())
    _serve(sys.stdin.buffer, _protocol_out)
