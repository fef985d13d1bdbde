"""A real PostgreSQL server for the tests: initdb + pg_ctl on a free port in a temp dir.

Postgres refuses to run as root, so as root the server runs as the ``postgres`` user
(``runuser``). Without binaries the tests that need it are skipped with the reason, except
under ``FRAZIL_CI=1`` (or ``CI=true``), where they fail: CI must never skip them silently.
``tools/ci-postgres`` installs the binaries.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

BIN_DIRS = [
    *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True),
    "/usr/local/bin",
    "/usr/bin",
]


def in_ci() -> bool:
    return os.environ.get("FRAZIL_CI") == "1" or os.environ.get("CI", "").lower() == "true"


def _find_bin_dir() -> str | None:
    for directory in BIN_DIRS:
        if all(os.access(os.path.join(directory, n), os.X_OK) for n in ("initdb", "pg_ctl")):
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throwaway server; :meth:`new_database` gives each test an empty database."""

    def __init__(self) -> None:
        bin_dir = _find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(
                "no PostgreSQL binaries (initdb, pg_ctl) found in "
                f"{BIN_DIRS}; run tools/ci-postgres"
            )
        self.bin_dir = bin_dir
        self.base = tempfile.mkdtemp(prefix="frazil-pg-")
        self.data = os.path.join(self.base, "data")
        self.port = _free_port()
        self.user = "frazil"
        self._prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            os.chmod(self.base, 0o755)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            self.data,
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        self._run(
            "pg_ctl",
            "-D",
            self.data,
            "-l",
            os.path.join(self.base, "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100",
            "start",
        )
        self.started = True

    def _run(self, tool: str, *args: str) -> None:
        out = subprocess.run(
            [*self._prefix, os.path.join(self.bin_dir, tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            log = ""
            with contextlib.suppress(OSError), open(os.path.join(self.base, "log")) as f:
                log = f.read()[-2000:]
            raise RuntimeError(f"{tool} failed: {out.stderr or out.stdout}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.base, ignore_errors=True)


def running_server():
    """Body of a session fixture: a running server (skipped, or failed in CI), stopped
    after the session."""
    try:
        server = PostgresServer()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a PostgreSQL server and none could be started: {exc}")
        pytest.skip(f"no PostgreSQL server could be started: {exc}")
    yield server
    server.stop()
