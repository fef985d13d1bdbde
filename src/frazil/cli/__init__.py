"""L9, the ``frazil`` command line: init, log, branch, tag, show, diff, check, du, expire,
gc, ops-log, jobs and config, over the public API.

Installed as the ``frazil`` console script with the ``cli`` extra (typer and rich).
"""

from __future__ import annotations

from frazil.cli._app import app, exit_code_for, main, parse_when
from frazil.cli._target import open_repository, storage_for

__all__ = ["app", "exit_code_for", "main", "open_repository", "parse_when", "storage_for"]
