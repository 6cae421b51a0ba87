"""The Faust shell. Importing it registers buzzwatch's ``rocksdb://`` table store (``store.py``)."""

from pipeline.stream import store as _store  # noqa: F401 - registers the store before any app is built
