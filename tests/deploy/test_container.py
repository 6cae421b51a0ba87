"""The container image, tested without a Docker engine: the Dockerfile's shape, and the wheel it
installs running `buzzwatch` from a clean virtualenv outside the source tree."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import pytest
import yaml
from deploykit import CHART, ROOT, required_module

from pipeline.stream.heap import MIMALLOC_ENV

BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "cmake", "git", "cargo", "rustc")


@pytest.fixture(scope="module")
def stages() -> list[list[dict]]:
    """The Dockerfile's instructions, split per stage."""
    parser = required_module("dockerfile_parse").DockerfileParser(path=str(ROOT / "Dockerfile"))
    result: list[list[dict]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result and instruction["instruction"] != "COMMENT":
            result[-1].append(instruction)
    return result


def values_of(stage: list[dict], name: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == name]


def test_multi_stage_with_a_slim_python_base(stages: list[list[dict]]) -> None:
    assert len(stages) >= 2
    args = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in args
    final = stages[-1]
    assert any(v.startswith("--from=build ") for v in values_of(final, "COPY")), "final stage copies the build"
    assert not any(v.startswith(("pipeline", ".")) for v in values_of(final, "COPY")), "no sources in the final image"


def test_final_stage_has_no_build_tools(stages: list[list[dict]]) -> None:
    for run in values_of(stages[-1], "RUN"):
        assert "apt-get install" not in run and "pip install" not in run, run
        assert not any(f" {tool}" in run for tool in BUILD_TOOLS), run


def test_runs_as_the_non_root_user_the_chart_expects(stages: list[list[dict]]) -> None:
    users = values_of(stages[-1], "USER")
    assert users, "the final stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric non-root USER (runAsNonRoot can verify it)"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (int(uid), int(gid or uid)) == (values["podSecurityContext"]["runAsUser"],
                                           values["podSecurityContext"]["runAsGroup"])


def test_entrypoint_is_buzzwatch_and_ports_match_the_chart(stages: list[list[dict]]) -> None:
    final = stages[-1]
    assert json.loads(values_of(final, "ENTRYPOINT")[-1]) == ["buzzwatch"]
    assert json.loads(values_of(final, "CMD")[-1]) == ["worker"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    exposed = {int(p) for v in values_of(final, "EXPOSE") for p in v.split()}
    assert exposed == {values["ports"]["metrics"], values["ports"]["http"]}


def test_read_only_root_filesystem_friendly(stages: list[list[dict]]) -> None:
    env = " ".join(values_of(stages[-1], "ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env, "caches go to /tmp (an emptyDir), not to a read-only home"
    assert "BUZZWATCH_DATA_DIR=/var/lib/buzzwatch" in env
    assert "PYTHONMALLOC=malloc" in env, "set in the image, the worker does not re-execute itself at start-up"
    assert "LD_PRELOAD=/opt/buzzwatch/lib/libmimalloc.so.2" in env, "mimalloc, from the build stage's virtualenv"
    assert all(f"{k}={v}" in env for k, v in MIMALLOC_ENV.items()), "the worker's mimalloc options"
    assert any("/opt/buzzwatch/lib/libmimalloc.so.2" in run for run in values_of(stages[0], "RUN")), \
        "the build stage copies mimalloc into the virtualenv the final stage copies"
    assert any("compileall" in run for run in values_of(stages[0], "RUN")), "bytecode compiled at build time"


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest(stages: list[list[dict]]) -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.split("/")[0] == p for p in patterns)

    copied = [src for v in values_of(stages[0], "COPY") for src in v.split()[:-1] if not src.startswith("--")]
    assert copied
    for src in copied:
        assert (ROOT / src).exists(), src
        assert not ignored(src), f"{src} is copied but .dockerignore drops it"
    for heavy in (".venv", ".git", "tests", "helm"):
        assert ignored(heavy), heavy


def test_the_wheel_runs_buzzwatch_from_a_clean_virtualenv(tmp_path: Path) -> None:
    """`pip wheel . --no-deps`, installed into a fresh virtualenv, run outside the source tree.

    The image installs the dependencies from the index; here (no network, < 60 s) the fresh venv
    borrows this venv's third-party packages through a .pth line, so what is tested is the wheel:
    its contents, its package data and its `buzzwatch` entry point.
    """
    started = time.monotonic()
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "-q", "-w", str(dist)], check=True, capture_output=True, timeout=120)
    wheel = next(dist.glob("buzzwatch-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pipeline").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts
                and (p.suffix == ".py" or p.name == "py.typed" or p.parent.name == "data")}
    assert expected - packed == set(), "modules or package data missing from the wheel"
    env_dir, clean_env, site = _fresh_venv(tmp_path, wheel)
    python = env_dir / "bin" / "python"
    out = subprocess.run([env_dir / "bin" / "buzzwatch", "--help"], cwd=tmp_path, env=clean_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "worker" in out.stdout
    where = subprocess.run([python, "-c", "import pipeline; print(pipeline.__file__)"], cwd=tmp_path,
                           env=clean_env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(site), f"buzzwatch imported from {where}, not from the wheel"
    assert time.monotonic() - started < 60


def _fresh_venv(tmp_path: Path, wheel: Path) -> tuple[Path, dict[str, str], str]:
    """A virtualenv holding only ``wheel`` and borrowing this venv's dependencies; a clean
    environment to run it in; its site-packages."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=120)
    (Path(site) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir, {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
                     "PYTHONDONTWRITEBYTECODE": "1"}, site


def _dockerfile_build_env(env_dir: Path) -> Path:
    """A fresh virtualenv holding what the Dockerfile's build stage installs into its throwaway
    build environment, and nothing else: a module the compiled core imports that is missing there
    fails mypyc's type check here as it would fail the image build."""
    run = re.search(r"/tmp/build-env/bin/pip install ([^\\&\n]+)", (ROOT / "Dockerfile").read_text())
    assert run is not None, "the Dockerfile no longer installs a build environment at /tmp/build-env"
    packages = shlex.split(run.group(1))
    assert any(p.startswith("mypy") for p in packages), packages
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    got = subprocess.run([env_dir / "bin" / "pip", "install", "-q", *packages], capture_output=True, text=True,
                         timeout=600)
    assert got.returncode == 0, got.stderr[-2000:]
    return env_dir


def _counts_stream(path: Path) -> None:
    """Per-bucket counts (`detect --format counts`) for three brands over 3 days, with two spikes."""
    import random

    from pipeline.records import format_time

    rng = random.Random(3)
    start = 1767225600  # 2026-01-01T00:00:00Z
    with open(path, "w") as fh:
        for i in range(3 * 24 * 12):
            for brand, level in (("a", 40), ("b", 3), ("c", 400)):
                t = start + i * 300
                mentions = max(0, int(rng.gauss(level, level ** 0.5 + 1)))
                if (brand, i) in {("a", 700), ("a", 701), ("b", 800), ("b", 801), ("b", 802)}:
                    mentions = mentions * 6 + 20
                negative = sum(rng.random() < 0.2 for _ in range(mentions))
                fh.write(json.dumps({"brand": brand, "start": format_time(t), "end": format_time(t + 300),
                                     "mentions": mentions, "negative": negative}) + "\n")


def test_the_compiled_core_alerts_exactly_as_the_source(tmp_path: Path) -> None:
    """The image's wheel is built with BUZZWATCH_COMPILE=1 (setup.py): mypyc compiles the detection
    core from the same sources into C extensions. Installed in a clean virtualenv, that core must
    produce byte-identical alerts to the source: on a generated suite (bursts, bots, copies,
    out-of-order arrival, small brands) and on per-bucket counts in volume mode.
    """
    src = tmp_path / "src"  # a copy: the in-tree build/ of other wheels must not see these extensions
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["cp", "-r", str(ROOT / "pipeline"), str(src / "pipeline")], check=True)
    build_env = _dockerfile_build_env(tmp_path / "build-env")
    dist = tmp_path / "dist"
    built = subprocess.run([build_env / "bin" / "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(dist)], env={**os.environ, "BUZZWATCH_COMPILE": "1"},
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("buzzwatch-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        extensions = {n for n in archive.namelist() if n.endswith(".so")}
    assert {f"pipeline/core/{m}" for m in ("detector", "evidence", "windows", "baseline", "monitor", "stats")} <= {
        n.split(".")[0] for n in extensions}, extensions
    env_dir, clean_env, _ = _fresh_venv(tmp_path, wheel)
    probe = "import pipeline.core as c, pipeline.core.detector as d; print(c.compiled(), d.__file__)"
    compiled, where = subprocess.run([env_dir / "bin" / "python", "-c", probe], cwd=tmp_path, env=clean_env,
                                     capture_output=True, text=True, check=True).stdout.split()
    assert compiled == "True" and where.endswith(".so"), where
    from pipeline.core import compiled as source_is_compiled

    assert not source_is_compiled(), "this test compares against the Python source"

    suite, counts = tmp_path / "suite.jsonl", tmp_path / "counts.jsonl"
    subprocess.run([sys.executable, "-m", "pipeline.cli", "simulate", "--scenario", "suite", "--days", "3",
                    "--scale", "0.3", "--seed", "5", "-o", str(suite), "--truth", str(tmp_path / "truth.json")],
                   check=True, timeout=300)
    _counts_stream(counts)
    runs = {"mentions": ["-i", str(suite)],
            "counts": ["-i", str(counts), "--format", "counts", "--signal", "volume", "--min-authors", "0"]}
    for name, args in runs.items():
        source = subprocess.run([sys.executable, "-m", "pipeline.cli", "detect", *args], capture_output=True,
                                timeout=300, check=True).stdout
        native = subprocess.run([env_dir / "bin" / "buzzwatch", "detect", *args], cwd=tmp_path, env=clean_env,
                                capture_output=True, timeout=300, check=True).stdout
        opened = [a for a in map(json.loads, source.splitlines()) if a["status"] == "open"]
        assert len(opened) >= 2, f"{name}: the stream should open incidents ({len(opened)})"
        assert native == source, f"{name}: compiled and source alerts differ"
