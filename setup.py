"""Packaging is in pyproject.toml; this file only adds the optional compiled detection core.

``BUZZWATCH_COMPILE=1`` compiles the pure-Python modules of the per-mention hot path with mypyc
(the same source files, type annotations enforced at run time; the records' cheap shape test,
core/shape.py, with them) into C extensions that shadow them: `buzzwatch detect` and the
worker's detect handler run ~1.7x faster. The container image and `make bench*` use it; `make
test` proves the compiled core's alerts byte-identical to the source's
(tests/deploy/test_container.py). Needs a C compiler and mypy (the dev extra) in the
build environment: ``BUZZWATCH_COMPILE=1 pip wheel --no-build-isolation --no-deps .``.
"""

import os

from setuptools import setup

COMPILED_CORE = [
    "pipeline/core/shape.py",
    "pipeline/core/stats.py",
    "pipeline/core/windows.py",
    "pipeline/core/baseline.py",
    "pipeline/core/drift.py",
    "pipeline/core/evidence.py",
    "pipeline/core/detector.py",
    "pipeline/core/traffic.py",
    "pipeline/core/monitor.py",
    "pipeline/core/terms.py",
]


def ext_modules() -> list:
    if os.environ.get("BUZZWATCH_COMPILE") != "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit("BUZZWATCH_COMPILE=1 needs mypy in the build environment: pip install mypy, "
                         "then build with --no-build-isolation") from None
    return mypycify(COMPILED_CORE, opt_level="3")


setup(ext_modules=ext_modules())
