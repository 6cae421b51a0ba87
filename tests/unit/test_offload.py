"""The scorer in a child process (stream/offload.py): the same scores as in the worker, learned state
carried over, failures that stop the worker instead of guessing, and fetches counted in order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter

import orjson
import pytest

from pipeline.core.ingest import Ingestor
from pipeline.core.scoring import Scorer
from pipeline.errors import ConfigError
from pipeline.settings import Settings, usable_cpus
from pipeline.sim.bench import START, mentions
from pipeline.stream.offload import InOrder, ScorerProcess, ScorerProcessError

FRENCH = ["le vol est encore annulé, service client nul", "merci pour ce super accueil à bord",
          "retard de trois heures sans aucune information"]


def sample(n: int = 600) -> list[bytes]:
    """English mentions of a few brands, French ones, and records that are dead letters."""
    out = [orjson.dumps(m) for m in mentions(n, 20, START, 3600.0, seed=5)]
    rng = random.Random(5)
    for i in range(0, n, 7):
        out[i] = orjson.dumps({"id": f"fr{i}", "text": rng.choice(FRENCH), "created_at": "2026-03-02T10:00:00Z",
                               "brand": "acme", **({"lang": "fr"} if i % 2 else {})})
    out[3] = b"{not json"
    out[11] = orjson.dumps({"id": "x", "text": 4})
    return out


def run(coro):  # noqa: ANN001, ANN201 - a test helper
    return asyncio.run(coro)


def test_the_child_scores_exactly_as_the_worker_would():
    raws = sample()
    expected = Ingestor(Scorer()).run(raws)
    ingestor = Ingestor(None)

    async def offloaded() -> tuple[list, dict]:
        child = ScorerProcess(state_key=0)
        try:
            batches = [ingestor.prepare(raws[i:i + 250]) for i in range(0, len(raws), 250)]
            answers = [await child.score(b.texts(), b.langs()) for b in batches]  # all sent before one is read
            scores = [await a for a in answers]
            out = [o for b, sc in zip(batches, scores, strict=True) for o in ingestor.complete(b, sc)]
            return out, Counter(lang for _, _, lang in scores[-1])
        finally:
            await child.stop()

    got, counts = run(offloaded())
    assert [repr(o) for o in got] == [repr(o) for o in expected]
    assert sum(1 for o in got if o is not None and not isinstance(o, Exception)) > 500
    assert {o.lang for o in got if hasattr(o, "lang")} >= {"en", "fr"}
    assert counts and sum(counts.values()) == 100  # the last batch's languages (its 100 mentions)


def test_learned_state_reaches_the_child_before_the_next_texts_and_only_when_it_changed():
    text = "the lounge wifi situation is whatever"
    local = Scorer()
    for i in range(40):
        local.learn_one(f"{text} {i % 3}", "negative", feedback_id=f"l{i}")
    learned = local.score(text)
    fresh = Scorer().score(text)
    assert learned.negativity > fresh.negativity
    sent: list[int] = []

    def state() -> dict:
        sent.append(1)
        return local.to_state()

    async def go() -> tuple[list, list, list]:
        child = ScorerProcess(state_key=0)
        try:
            before = await (await child.score([text], [None]))
            await child.sync_state(0, state)  # unchanged: nothing sent
            await child.sync_state(1, state)
            after = await (await child.score([text], [None]))
            await child.sync_state(1, state)
            again = await (await child.score([text], [None]))
            return before, after, again
        finally:
            await child.stop()

    before, after, again = run(go())
    assert before == [tuple(fresh)]
    assert after == again == [tuple(learned)]
    assert len(sent) == 1


def test_a_failed_request_is_an_error_and_the_child_goes_on():
    async def go() -> list:
        child = ScorerProcess(state_key=0)
        try:
            bad = await child.score([None], [None])  # type: ignore[list-item]
            with pytest.raises(ScorerProcessError, match="failed"):
                await bad
            return await (await child.score(["a great flight"], ["en"]))
        finally:
            await child.stop()

    scores = run(go())
    assert len(scores) == 1 and scores[0][2] == "en"


def test_a_dead_child_fails_what_was_asked_and_what_is_asked_after():
    async def go() -> None:
        child = ScorerProcess(state_key=0)
        await child.start()
        assert child.proc is not None
        os.kill(child.proc.pid, signal.SIGKILL)
        pending = await child.score(["late"] * 10, [None] * 10)
        with pytest.raises(ScorerProcessError, match="exited"):
            await asyncio.wait_for(pending, 10)
        with pytest.raises(ScorerProcessError, match="exited"):
            await child.score(["later"], [None])

    run(go())


def test_a_child_dying_with_nothing_asked_is_reported_at_once_and_a_stop_is_not_a_death():
    """The worker stops as soon as its child dies (``on_broken``), not at its next fetch, which may be
    hours away on a quiet stream; the child's own exit at ``stop`` reports nothing, and a Ctrl-C or a
    SIGTERM meant for the worker's process group leaves the child to the worker's orderly stop."""
    async def go() -> tuple[list, list]:
        died: list[ScorerProcessError] = []
        child = ScorerProcess(state_key=0, on_broken=died.append)
        await child.start()
        assert child.proc is not None
        os.kill(child.proc.pid, signal.SIGKILL)
        for _ in range(100):
            if died:
                break
            await asyncio.sleep(0.05)
        stopped: list[ScorerProcessError] = []
        other = ScorerProcess(state_key=0, on_broken=stopped.append)
        await (await other.score(["a fine flight"], ["en"]))
        assert other.proc is not None
        for sig in (signal.SIGINT, signal.SIGTERM):  # a Ctrl-C or a SIGTERM to the worker's whole group
            os.kill(other.proc.pid, sig)
        await asyncio.sleep(0.2)
        assert len(await asyncio.wait_for(await other.score(["still here"], ["en"]), 10)) == 1
        await other.stop()
        await asyncio.sleep(0.2)
        return died, stopped

    died, stopped = run(go())
    assert [str(e) for e in died] == ["the scoring process exited (-9)"]
    assert stopped == []


def test_fetches_are_counted_in_the_order_fetched_whatever_order_their_scores_return():
    async def go() -> tuple[list[int], list[int]]:
        loop = asyncio.get_running_loop()
        scores = [loop.create_future() for _ in range(3)]
        counted: list[int] = []
        acked: list[int] = []
        in_order = InOrder(depth=3)

        def work(i: int):  # noqa: ANN202
            async def count() -> list:
                await scores[i]
                counted.append(i)
                write = loop.create_future()
                loop.call_later(0.01 * (3 - i), write.set_result, None)
                return [write]
            return count

        done = [await in_order.submit(work(i)) for i in range(3)]
        for i, d in enumerate(done):
            d.add_done_callback(lambda _, i=i: acked.append(i))  # type: ignore[union-attr]
        for f in reversed(scores):
            f.set_result(None)
            await asyncio.sleep(0)
        await asyncio.gather(*done)
        return counted, acked

    counted, acked = run(go())
    assert counted == [0, 1, 2]
    assert sorted(acked) == [0, 1, 2]


def test_a_fetch_is_acknowledged_only_once_its_writes_complete():
    """Its offsets become committable at its acknowledgement: acknowledged with a write still in
    flight, a crash would lose that write for good (never read again)."""
    async def go() -> None:
        loop = asyncio.get_running_loop()
        write = loop.create_future()
        counted = asyncio.Event()
        in_order = InOrder(depth=2)

        async def count() -> list:
            counted.set()
            return [write]

        done = await in_order.submit(count)
        await asyncio.wait_for(counted.wait(), 5)
        for _ in range(5):  # every step the acknowledgement could take without the write
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert not done.done()  # type: ignore[attr-defined]  # counted, but its write is still in flight
        write.set_result(None)
        await asyncio.wait_for(done, 5)

    run(go())


def test_at_most_depth_fetches_are_under_way_and_a_failure_fails_the_ones_after_it():
    async def go() -> None:
        loop = asyncio.get_running_loop()
        gate = loop.create_future()
        in_order = InOrder(depth=2)
        started: list[int] = []

        def work(i: int):  # noqa: ANN202
            async def count() -> list:
                started.append(i)
                await gate
                if i == 0:
                    raise RuntimeError("count failed")
                return []
            return count

        first = await in_order.submit(work(0))
        second = await in_order.submit(work(1))
        third = asyncio.ensure_future(in_order.submit(work(2)))
        await asyncio.sleep(0.05)
        assert not third.done()  # two under way: the third fetch waits
        gate.set_result(None)
        third_ack = await asyncio.wait_for(third, 5)
        for ack in (first, second, third_ack):
            with pytest.raises(RuntimeError, match="count failed"):
                await ack
        assert started == [0]  # nothing after a failed fetch is counted
        await in_order.drain()

    run(go())


def test_usable_cpus_follow_the_cgroup_quota(tmp_path):
    own = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(str(tmp_path)) == own
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cpus(str(tmp_path)) == 0.5
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cpus(str(tmp_path)) == own
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    assert usable_cpus(str(tmp_path)) == min(own, 1.0)


def test_scorer_processes_setting():
    assert Settings.from_env({"BUZZWATCH_SCORER_PROCESSES": "0"}).scorer_processes == 0
    assert Settings.from_env({"BUZZWATCH_SCORER_PROCESSES": "1"}).scorer_processes == 1
    assert Settings.from_env({}).scorer_processes == (1 if usable_cpus() >= 2 else 0)
    with pytest.raises(ConfigError, match="BUZZWATCH_SCORER_PROCESSES: auto, 0 .* got '2'"):
        Settings.from_env({"BUZZWATCH_SCORER_PROCESSES": "2"})
