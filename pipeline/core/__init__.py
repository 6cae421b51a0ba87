"""The functional core: scoring, windows and detection in plain Python, no Kafka or Faust imports."""


def compiled() -> bool:
    """True when the detection core runs as C extensions built by mypyc from these same sources
    (``BUZZWATCH_COMPILE=1``: the image, ``make compile``), False when it runs as Python source."""
    from pipeline.core import detector

    return not (detector.__file__ or "").endswith(".py")
