"""The exception hierarchy: one root, one class per event, data where the runtime must act on it."""

from __future__ import annotations


class BuzzwatchError(Exception):
    """Root of every error buzzwatch raises on purpose."""


class ConfigError(BuzzwatchError):
    """A setting or a configuration file is wrong; raised at start-up, never mid-stream."""


class BrandsFileError(ConfigError):
    """The brands file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"brands file {path}: {problem}")
        self.path = path
        self.problem = problem


class InvalidRecord(BuzzwatchError):
    """A record does not match its schema; `reason` is what goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidLine(InvalidRecord):
    """Line ``line`` (from 1) of an input file is not a valid record; ``reason`` says why."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


class DeliveryError(BuzzwatchError):
    """An alert could not be delivered yet; the caller retries and does not commit its offset."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Undeliverable(BuzzwatchError):
    """An alert can never be delivered as configured (e.g. no channel); logged, counted, not retried."""


class BrokerUnavailable(BuzzwatchError):
    """A command-line producer (replay, feedback) could not reach the Kafka broker it was given."""
