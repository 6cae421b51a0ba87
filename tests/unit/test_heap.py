"""The worker gives evicted brands' memory back: malloc_trim after many evictions, not often, on
the system allocator (PYTHONMALLOC=malloc, which the worker re-executes itself with)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.stream.heap import MIMALLOC_ENV, HeapTrimmer, find_mimalloc, use_system_malloc


def test_trims_once_enough_brands_were_evicted_and_not_more_often_than_the_interval():
    now, calls = [0.0], []
    t = HeapTrimmer(every=1000, min_interval_s=30.0, trim=lambda: calls.append(now[0]), clock=lambda: now[0])
    t.evicted(999)
    assert not t.maybe_trim()
    t.evicted(1)
    assert t.maybe_trim() and calls == [0.0]
    now[0] = 10.0  # (the follow-up of the first trim would be due at 30)
    t.evicted(5000)
    assert not t.maybe_trim()  # enough brands, too soon
    now[0] = 31.0
    assert t.maybe_trim() and calls == [0.0, 31.0]  # the 5,000 still count
    now[0] = 40.0
    assert not t.maybe_trim()  # the follow-up waits for the interval too
    now[0] = 100.0
    t.evicted(10)
    assert t.maybe_trim() and calls == [0.0, 31.0, 100.0]  # one follow-up after a trim
    now[0] = 200.0
    assert not t.maybe_trim()  # and only one: the count started again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_uses_the_c_librarys_malloc_trim_on_linux():
    t = HeapTrimmer(every=1, min_interval_s=0.0)
    t.evicted(1)
    assert t.trim is not None and t.maybe_trim() and t.trims == 1
    assert t.trim() in (0, 1)  # glibc's malloc_trim(0) itself: 1 if memory went back to the system


def test_the_worker_runs_again_with_the_system_allocator_once(monkeypatch):
    monkeypatch.setattr(sys, "orig_argv", ["/venv/bin/python", "-m", "pipeline.cli", "worker"], raising=False)
    runs = []
    env = {"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}
    assert use_system_malloc(env, execv=lambda exe, argv: runs.append((exe, argv)), mimalloc=False)
    assert runs == [(sys.executable, ["/venv/bin/python", "-m", "pipeline.cli", "worker"])]  # same command line
    assert env == {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "PYTHONMALLOC": "malloc"}
    # The new process has it set: it goes on instead of running itself again.
    assert not use_system_malloc(env, execv=lambda exe, argv: runs.append((exe, argv))) and len(runs) == 1


@pytest.mark.parametrize("env", [{"PYTHONMALLOC": "pymalloc"}, {"BUZZWATCH_PYMALLOC": "1"}, {"BUZZWATCH_PYMALLOC": "true"}])
def test_an_operators_allocator_choice_wins(monkeypatch, env):
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "pipeline.cli", "worker"], raising=False)
    before = dict(env)
    assert not use_system_malloc(env, execv=lambda exe, argv: pytest.fail("ran again"))
    assert env == before


def test_mimalloc_is_preloaded_with_its_options_beside_what_was_preloaded(monkeypatch):
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "pipeline.cli", "worker"], raising=False)
    env = {"LD_PRELOAD": "libfoo.so", "MIMALLOC_RESET_DELAY": "25"}
    assert use_system_malloc(env, execv=lambda exe, argv: None, mimalloc="libmimalloc.so.2")
    assert env["LD_PRELOAD"] == "libfoo.so libmimalloc.so.2" and env["PYTHONMALLOC"] == "malloc"
    assert env["MIMALLOC_RESET_DELAY"] == "25"  # an operator's option wins
    assert all(env[k] == v for k, v in MIMALLOC_ENV.items() if k != "MIMALLOC_RESET_DELAY")
    plain: dict[str, str] = {}
    assert use_system_malloc(plain, execv=lambda exe, argv: None, mimalloc=False)
    assert plain == {"PYTHONMALLOC": "malloc"}  # no mimalloc: glibc's allocator, as before


def test_the_mimalloc_library_is_the_operators_or_the_systems():
    assert find_mimalloc({"BUZZWATCH_MIMALLOC": "/opt/lib/libmimalloc.so"}) == "/opt/lib/libmimalloc.so"
    assert find_mimalloc({"BUZZWATCH_MIMALLOC": "0"}) is None
    found = find_mimalloc({})
    assert found == ctypes.util.find_library("mimalloc")  # the system's, looked up independently
    if found is None:  # .ci/run installs Debian's libmimalloc2.0: there it must be found
        assert os.environ.get("CI", "").lower() != "true", "CI without libmimalloc: .ci/run installs it"
        return
    assert hasattr(ctypes.CDLL(found), "mi_malloc"), found  # the library found is mimalloc


def test_a_real_interpreter_runs_again_with_it(tmp_path):
    """End to end through a real interpreter: the process starts twice, and the second one allocates
    from the system (pymalloc's block count is 0 when it is not in use)."""
    script = tmp_path / "probe.py"
    script.write_text("import os, sys\n"
                      "print('start', flush=True)\n"
                      "from pipeline.stream.heap import use_system_malloc\n"
                      "use_system_malloc()\n"
                      "print(os.environ.get('PYTHONMALLOC'), sys.getallocatedblocks(), flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONMALLOC", "BUZZWATCH_PYMALLOC")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["start", "start", "malloc", "0"]


def test_tune_gc_takes_start_ups_objects_out_of_every_collection(tmp_path):
    """In a fresh interpreter that imported the worker's stack: once tuned, a full collection no
    longer scans what start-up allocated, and young collections wait for 50,000 allocations."""
    script = tmp_path / "gc_check.py"
    script.write_text(
        "import gc, faust, pipeline.stream.app\n"
        "from pipeline.stream.heap import GC_YOUNG_THRESHOLD, tune_gc\n"
        "before = len(gc.get_objects())\n"
        "tune_gc()\n"
        "print(before, len(gc.get_objects()), gc.get_freeze_count(), gc.get_threshold()[0], GC_YOUNG_THRESHOLD)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    before, after, frozen, young, expected = map(int, out.stdout.split())
    assert before > 50_000 and after < 1_000 and frozen >= before - after - 5_000
    assert young == expected == 50_000


def test_a_real_worker_start_loads_mimalloc_where_it_is_installed(tmp_path):
    """Through a real interpreter: with mimalloc installed (Debian's libmimalloc2.0; .ci/run installs
    it) the process runs again with it loaded, and ``allocator()`` says so; without it, glibc's."""
    script = tmp_path / "probe.py"
    script.write_text("from pipeline.stream.heap import allocator, use_system_malloc\n"
                      "use_system_malloc()\n"
                      "print(allocator(), flush=True)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONMALLOC", "BUZZWATCH_PYMALLOC", "BUZZWATCH_MIMALLOC", "LD_PRELOAD")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    expected = "mimalloc" if ctypes.util.find_library("mimalloc") else "malloc"  # not find_mimalloc: it is under test
    if expected == "malloc" and os.environ.get("CI", "").lower() == "true":
        pytest.fail("libmimalloc not found: .ci/run installs Debian's libmimalloc2.0")
    assert out.stdout.split() == [expected]
    env["BUZZWATCH_MIMALLOC"] = "0"  # turned off: glibc's allocator
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.split() == ["malloc"], out.stderr
