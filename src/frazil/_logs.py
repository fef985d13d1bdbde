"""Logging switches and a debug report, in Icechunk's spelling."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import sys
from typing import Any

from frazil._errors import ErrorKind, InvalidInputError

__all__ = ["initialize_logs", "print_debug_info", "set_logs_filter"]

_LEVELS = {
    "trace": 5,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": logging.CRITICAL + 10,
    "false": logging.CRITICAL + 10,
}
_HANDLER_NAME = "frazil-set-logs-filter"
_ENV_DIRECTIVE = ("FRAZIL_LOG", "ICECHUNK_LOG")
_ENV_STDOUT = ("FRAZIL_LOG_TO_STDOUT", "ICECHUNK_LOG_TO_STDOUT")
_SET: set[str] = set()
"""Loggers whose level a directive set, so that the next directive starts afresh."""


def _level(word: str, directive: str) -> int:
    level = _LEVELS.get(word.strip().lower())
    if level is None:
        raise InvalidInputError(
            f"unknown log level {word!r} in {directive!r}; use one of "
            f"{', '.join(_LEVELS)} (e.g. 'debug' or 'frazil.storage=debug,info')",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return level


def _logger_name(name: str) -> str:
    name = name.strip().replace("::", ".")
    if name == "icechunk" or name.startswith("icechunk."):
        return "frazil" + name.removeprefix("icechunk")
    return name


def _plan(directive: str) -> list[tuple[str, int]]:
    plan: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in directive.split(","))):
        name, sep, word = part.rpartition("=")
        if not sep:  # "debug", or Rust's "target:level" spelling
            name, sep, word = part.rpartition(":")
        plan.append((_logger_name(name) if sep else "frazil", _level(word, directive)))
    return plan


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` (or ``sys.stdout``) is when a record is emitted,
    so a notebook's or a test runner's replacement streams get the records, and a stream
    closed since never breaks logging."""

    def __init__(self) -> None:
        self.to_stdout = False
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stdout if self.to_stdout else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys stream


def _handler() -> None:
    root = logging.getLogger("frazil")
    to_stdout = any(os.environ.get(name) not in (None, "", "0") for name in _ENV_STDOUT)
    for handler in root.handlers:
        if isinstance(handler, _ConsoleHandler):
            handler.to_stdout = to_stdout
            return
    handler = _ConsoleHandler()
    handler.to_stdout = to_stdout
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def set_logs_filter(log_filter_directive: str | None) -> None:
    """Set the log levels of frazil's loggers, and show their records on stderr.

    Each call starts afresh: levels set by an earlier directive are cleared first.

    Parameters
    ----------
    log_filter_directive
        Comma-separated directives: a bare level (``"debug"``) for every frazil logger,
        ``"NAME=LEVEL"`` (or ``"NAME:LEVEL"``) for one logger and its children
        (``"frazil.storage=debug"``, ``"s3fs=debug"``; ``icechunk`` is read as
        ``frazil``). Levels: trace, debug, info, warn, error, off (or ``false``). An
        empty string puts every level back to the default (warnings only). ``None``
        reads the directive from the ``FRAZIL_LOG`` environment variable, or else
        ``ICECHUNK_LOG``, and means the default when neither is set. Records go to
        stderr, or to stdout when ``FRAZIL_LOG_TO_STDOUT`` (or
        ``ICECHUNK_LOG_TO_STDOUT``) is set.

    Raises
    ------
    InvalidInputError
        If a level is unknown (nothing is changed).
    """
    if log_filter_directive is None:
        log_filter_directive = next(
            (os.environ[name] for name in _ENV_DIRECTIVE if os.environ.get(name)), ""
        )
    if not isinstance(log_filter_directive, str):
        raise InvalidInputError(
            f"set_logs_filter takes a str or None, got {type(log_filter_directive).__name__!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    plan = _plan(log_filter_directive)
    for name in _SET:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _SET.clear()
    _handler()
    for name, level in plan:
        logging.getLogger(name).setLevel(level)
        _SET.add(name)
    for name, _ in plan:
        _warn_if_misspelled(name)


def _warn_if_misspelled(name: str) -> None:
    """Warn about a logger name one slip away from frazil's or Icechunk's (it would
    silently match nothing of frazil's)."""
    import difflib

    head = name.partition(".")[0]
    if head in ("frazil", "icechunk"):
        return
    if difflib.get_close_matches(head, ["frazil", "icechunk"], n=1, cutoff=0.75):
        logging.getLogger("frazil").warning(
            "log filter names the logger %r, which is not frazil's: did you mean "
            "'frazil' (or 'icechunk')?",
            name,
        )


def initialize_logs() -> None:
    """Apply the directive in the ``FRAZIL_LOG`` (or ``ICECHUNK_LOG``) environment
    variable, if set (see :func:`set_logs_filter`). ``import frazil`` does this itself."""
    if any(os.environ.get(name) for name in _ENV_DIRECTIVE):
        set_logs_filter(None)


def print_debug_info() -> None:
    """Print the versions of frazil, Python and the libraries it works with (for bug
    reports)."""
    lines = [
        f"platform: {platform.platform()}",
        f"python: {sys.version.split()[0]}",
    ]
    for package in (
        "frazil",
        "zarr",
        "numpy",
        "numcodecs",
        "zstandard",
        "dask",
        "distributed",
        "xarray",
        "s3fs",
        "aiobotocore",
        "fsspec",
        "gcsfs",
        "adlfs",
        "virtualizarr",
        "kerchunk",
    ):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        lines.append(f"{package}: {version}")
    print("\n".join(lines))
