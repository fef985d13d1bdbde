"""Logging switches and a debug report, in Icechunk's spelling."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import sys

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
}
_HANDLER_NAME = "frazil-set-logs-filter"


def _level(word: str, directive: str) -> int:
    level = _LEVELS.get(word.strip().lower())
    if level is None:
        raise InvalidInputError(
            f"unknown log level {word!r} in {directive!r}; use one of "
            f"{', '.join(_LEVELS)} (e.g. 'debug' or 'frazil.storage=debug,info')",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    return level


def set_logs_filter(log_filter_directive: str | None) -> None:
    """Set the log levels of frazil's loggers, and show their records on stderr.

    Parameters
    ----------
    log_filter_directive
        Comma-separated directives: a bare level (``"debug"``) for every frazil logger,
        ``"NAME=LEVEL"`` for one logger and its children (``"frazil.storage=debug"``;
        ``icechunk`` is read as ``frazil``). Levels: trace, debug, info, warn, error, off.
        ``None`` reads the directive from the ``FRAZIL_LOG`` environment variable (nothing
        changes if it is unset).

    Raises
    ------
    InvalidInputError
        If a level is unknown (nothing is changed).
    """
    if log_filter_directive is None:
        log_filter_directive = os.environ.get("FRAZIL_LOG")
        if not log_filter_directive:
            return
    if not isinstance(log_filter_directive, str):
        raise InvalidInputError(
            f"set_logs_filter takes a str or None, got {type(log_filter_directive).__name__!r}",
            kind=ErrorKind.INVALID_ARGUMENT,
        )
    plan: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in log_filter_directive.split(","))):
        name, sep, word = part.rpartition("=")
        if not sep:
            name = "frazil"
        name = name.strip().replace("::", ".")
        if name == "icechunk" or name.startswith("icechunk."):
            name = "frazil" + name.removeprefix("icechunk")
        plan.append((name, _level(word, log_filter_directive)))
    root = logging.getLogger("frazil")
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = logging.StreamHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for name, level in plan:
        logging.getLogger(name).setLevel(level)


def initialize_logs() -> None:
    """Apply the directive in the ``FRAZIL_LOG`` environment variable, if set (see
    :func:`set_logs_filter`)."""
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
