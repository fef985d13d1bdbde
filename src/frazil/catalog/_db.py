"""The catalog's database: URLs, engines, the identity check, migrations, transactions.

* ``uri=None`` means ``$FRAZIL_CATALOG`` if set, else ``catalog.db`` in the user's data
  directory (platformdirs). ``postgresql://`` URLs use psycopg 3.
* SQLite runs in WAL mode with a busy timeout; every write transaction starts with
  ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing on lock upgrades.
  PostgreSQL write transactions take one advisory lock, so writers queue there too (catalog
  writes are rare and short; queueing keeps name and prefix checks race-free).
* Before anything is written, an existing database is checked to be a frazil catalog: a
  file that is not SQLite, or a database with tables but no catalog version table, is
  refused and left byte for byte as it was.
* The schema is migrated forward to the head revision on open, under the write lock, so
  processes opening a fresh catalog together create it once.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import sqlite3
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, exc as sa_exc

from frazil._errors import (
    ErrorKind,
    FormatError,
    InternalError,
    InvalidInputError,
    StorageError,
)
from frazil.catalog._models import INFO

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "HEAD_REVISION",
    "VERSION_TABLE",
    "Database",
    "default_catalog_path",
    "migrations_dir",
    "resolve_url",
]

HEAD_REVISION = "0001"
"""The newest schema revision this frazil knows (a test checks it is Alembic's head)."""

VERSION_TABLE = "frazil_catalog_version"
"""Alembic's version table, named for frazil so it never meets another application's."""

_CATALOG_TABLES = frozenset({"frazil_catalog_info", "frazil_bucket_configs", "frazil_repos"})
_PG_LOCK = 0x6672617A696C  # "frazil": the advisory lock every write transaction takes
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_TIMEOUT_S = 60.0

# In-memory SQLite catalogs (``sqlite://``, ``memory://NAME``) share one engine per URL in
# the process, so two clients on the same URL see the same catalog.
_MEMORY_ENGINES: dict[str, sa.Engine] = {}
_MEMORY_LOCK = threading.Lock()
_MEMORY_TX_LOCKS: dict[str, threading.RLock] = {}


def migrations_dir() -> pathlib.Path:
    """The Alembic script directory shipped inside the package."""
    return pathlib.Path(__file__).with_name("_migrations")


def default_catalog_path() -> pathlib.Path:
    """``catalog.db`` in the user's data directory (``$XDG_DATA_HOME/frazil`` on Linux)."""
    import platformdirs

    return pathlib.Path(platformdirs.user_data_dir("frazil", appauthor=False)) / "catalog.db"


def resolve_url(uri: object) -> str:
    """The SQLAlchemy URL a client's ``uri`` argument means."""
    if uri is None:
        uri = os.environ.get("FRAZIL_CATALOG") or None
    if uri is None:
        return f"sqlite:///{default_catalog_path()}"
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInputError(
            f"invalid catalog URL {uri!r}: expected 'sqlite:///path', 'postgresql://...' or "
            "another SQLAlchemy URL",
            kind=ErrorKind.INVALID_CONFIG,
        )
    if uri.startswith("memory://"):
        return uri
    if "://" not in uri:  # a plain path to a SQLite file
        return f"sqlite:///{os.path.abspath(uri)}"
    if uri.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def _describe(url: sa.URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


class Database:
    """An open catalog database: one engine, checked and migrated to the head revision."""

    def __init__(self, uri: str | None) -> None:
        self.url_text = resolve_url(uri)
        self.memory = self.url_text.startswith("memory://")
        try:
            url = sa.make_url("sqlite://" if self.memory else self.url_text)
        except sa_exc.ArgumentError:
            raise InvalidInputError(
                f"invalid catalog URL {self.url_text!r}: expected 'sqlite:///path', "
                "'postgresql://user@host/db' or another SQLAlchemy URL",
                kind=ErrorKind.INVALID_CONFIG,
            ) from None
        self.url = url
        self.dialect = url.get_backend_name()
        self.sqlite_path: pathlib.Path | None = None
        if self.dialect == "sqlite":
            database = url.database or ""
            self.memory = self.memory or database in ("", ":memory:")
            if not self.memory:
                self.sqlite_path = pathlib.Path(database).absolute()
                _check_sqlite_file(self.sqlite_path)
        self.engine = self._make_engine()
        # a client dropped without close() still closes its pooled connections cleanly
        self._finalizer = weakref.finalize(
            self, (lambda: None) if self.memory else self.engine.dispose
        )
        try:
            self._check_and_migrate()
        except BaseException:
            self._finalizer()
            raise

    @property
    def description(self) -> str:
        """Where the catalog is, without a password."""
        return self.url_text if self.memory else _describe(self.url)

    # ------------------------------------------------------------------ engines
    def _make_engine(self) -> sa.Engine:
        if self.memory:
            with _MEMORY_LOCK:
                engine = _MEMORY_ENGINES.get(self.url_text)
                if engine is None:
                    engine = sa.create_engine(
                        "sqlite://",
                        poolclass=sa.StaticPool,
                        connect_args={"check_same_thread": False},
                    )
                    _sqlite_events(engine, wal=False)
                    _MEMORY_ENGINES[self.url_text] = engine
                return engine
        try:
            if self.dialect == "sqlite":
                assert self.sqlite_path is not None
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(
                    self.url, connect_args={"timeout": _BUSY_TIMEOUT_S}, poolclass=sa.NullPool
                )
                _sqlite_events(engine, wal=True)
                return engine
            connect_args: dict[str, Any] = {}
            if self.dialect == "postgresql":
                connect_args["connect_timeout"] = 10
            engine = sa.create_engine(self.url, connect_args=connect_args, pool_pre_ping=True)
            _forget_pool_after_fork(engine)
            return engine
        except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
            raise InvalidInputError(
                f"cannot use catalog URL {self.description!r}: its database driver is not "
                f"installed ({exc}); for PostgreSQL install frazil[postgres]",
                kind=ErrorKind.INVALID_CONFIG,
            ) from None
        except OSError as exc:
            raise StorageError(
                f"cannot create the catalog directory for {self.description!r}: {exc}",
                kind=ErrorKind.CATALOG_UNREACHABLE,
            ) from None

    def dispose(self) -> None:
        """Close every pooled connection (in-memory catalogs stay alive in the process)."""
        self._finalizer()

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[sa.Connection]:
        """A connection in one transaction, committed on success and rolled back on error.

        Write transactions are serialised (``BEGIN IMMEDIATE`` on SQLite, an advisory lock
        on PostgreSQL).
        """
        # an in-memory catalog is one connection: its transactions take turns
        serial = _MEMORY_TX_LOCKS.setdefault(self.url_text, threading.RLock())
        with (
            serial if self.memory else contextlib.nullcontext(),
            self.errors(),
            self.engine.connect() as conn,
        ):
            conn = conn.execution_options(frazil_write=write)
            with conn.begin():
                if write and self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                yield conn

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Translate driver errors into frazil errors naming the catalog, without the
        driver's stack."""
        try:
            yield
        except sa_exc.IntegrityError as exc:  # the checks run under the write lock first
            raise InternalError(
                f"the catalog database {self.description!r} refused a change: "
                f"{_first_line(exc)}; please report this"
            ) from None
        except sa_exc.OperationalError as exc:
            detail = _first_line(exc)
            raise StorageError(
                f"cannot reach or use the catalog database {self.description!r}"
                f"{_host_of(self.url)}: {detail}",
                kind=ErrorKind.CATALOG_UNREACHABLE,
                transient=True,
            ) from None
        except sa_exc.DBAPIError as exc:
            detail = _first_line(exc)
            raise StorageError(
                f"the catalog database {self.description!r} failed: {detail}",
                kind=ErrorKind.STORAGE_IO,
            ) from None

    # ------------------------------------------------------------------ schema
    def _check_and_migrate(self) -> None:
        with self.errors():
            revision = self._identify()
            if revision == HEAD_REVISION:
                return
            with self.transaction(write=True) as conn:
                revision = _identify_on(conn, self)  # again, under the lock
                if revision != HEAD_REVISION:
                    _upgrade(conn, revision)
                    _write_info(conn, self)

    def _identify(self) -> str | None:
        with self.engine.connect() as conn:
            return _identify_on(conn, self)

    def default_root(self) -> str:
        """The storage URL under which repositories without a bucket config live (written
        with the schema; filled in here for a database stamped by another tool)."""
        query = sa.select(INFO.c.value).where(INFO.c.key == "default_root")
        with self.transaction(write=False) as conn:
            value = conn.execute(query).scalar_one_or_none()
        if value is None:
            with self.transaction(write=True) as conn:
                _write_info(conn, self)
                value = conn.execute(query).scalar_one()
        return str(value)


def _first_line(exc: sa_exc.DBAPIError) -> str:
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _host_of(url: sa.URL) -> str:
    if url.host:
        port = f":{url.port}" if url.port else ""
        return f" (host {url.host}{port})"
    return ""


def _check_sqlite_file(path: pathlib.Path) -> None:
    """Refuse, without touching it, a file that is not a SQLite database."""
    if path.is_dir():
        raise InvalidInputError(
            f"the catalog path {str(path)!r} is a directory; give the path of a file "
            "(e.g. sqlite:///path/to/catalog.db)",
            kind=ErrorKind.NOT_A_CATALOG,
        )
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(
            f"cannot read the catalog file {str(path)!r}: {exc}",
            kind=ErrorKind.CATALOG_UNREACHABLE,
        ) from None
    if not head:
        return
    if head != _SQLITE_MAGIC:
        raise FormatError(
            f"{str(path)!r} is not a frazil catalog (not a SQLite database); it was left "
            "untouched. Point the client at another file, or move this one away.",
            kind=ErrorKind.NOT_A_CATALOG,
        )
    # look inside read-only: opening it through the engine would switch it to WAL mode
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
        try:
            names = {
                str(row[0])
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise FormatError(
            f"{str(path)!r} is not a frazil catalog ({exc}); it was left untouched",
            kind=ErrorKind.NOT_A_CATALOG,
        ) from None
    if names and VERSION_TABLE not in names:
        raise FormatError(
            f"{str(path)!r} is not a frazil catalog (it has tables {sorted(names)[:5]} but "
            f"no {VERSION_TABLE!r} table); it was left untouched. Point the client at "
            "another file.",
            kind=ErrorKind.NOT_A_CATALOG,
        )


def _identify_on(conn: sa.Connection, db: Database) -> str | None:
    """The schema revision of the database (``None`` for an empty one).

    Raises FormatError for a database that holds something else or a newer schema.
    """
    inspector = sa.inspect(conn)
    tables = set(inspector.get_table_names())
    if VERSION_TABLE not in tables:
        foreign = tables & _CATALOG_TABLES if db.dialect != "sqlite" else tables
        if foreign:
            raise FormatError(
                f"the database {db.description!r} is not a frazil catalog (it has tables "
                f"{sorted(foreign)[:5]} but no {VERSION_TABLE!r} table); it was left "
                "untouched. Use an empty database or another file.",
                kind=ErrorKind.NOT_A_CATALOG,
            )
        return None
    rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if not rows:
        return None
    revision = str(rows[0])
    if revision not in _known_revisions():
        raise FormatError(
            f"the catalog {db.description!r} has schema revision {revision!r}, which this "
            f"frazil does not know (it knows up to {HEAD_REVISION!r}); it was written by a "
            "newer frazil: upgrade frazil to open it",
            kind=ErrorKind.UNSUPPORTED_FORMAT_VERSION,
        )
    return revision


def _known_revisions() -> set[str]:
    return {
        p.name.removeprefix("v").split("_", 1)[0]
        for p in (migrations_dir() / "versions").glob("v*.py")
    }


def alembic_config(conn: sa.Connection | None = None) -> Any:
    """An Alembic configuration for the shipped migrations (on ``conn`` if given)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = conn
    config.attributes["version_table"] = VERSION_TABLE
    return config


def _upgrade(conn: sa.Connection, revision: str | None) -> None:
    from alembic import command

    del revision  # Alembic reads it from the version table itself
    command.upgrade(alembic_config(conn), "head")


def _write_info(conn: sa.Connection, db: Database) -> None:
    present = set(conn.execute(sa.select(INFO.c.key)).scalars())
    rows = {
        "format": "frazil-catalog",
        "catalog_id": uuid.uuid4().hex,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "default_root": _default_root(db),
    }
    for key, value in rows.items():
        if key not in present:
            conn.execute(sa.insert(INFO).values(key=key, value=value))


def _default_root(db: Database) -> str:
    if db.memory:
        return f"memory://catalog-{uuid.uuid4().hex[:12]}"
    if db.sqlite_path is not None:
        return (db.sqlite_path.parent / "repos").as_uri()
    import platformdirs

    return (pathlib.Path(platformdirs.user_data_dir("frazil", appauthor=False)) / "repos").as_uri()


def _forget_pool_after_fork(engine: sa.Engine) -> None:
    """A forked child must not use its parent's pooled connections (SQLAlchemy's advice:
    drop them without closing them, which would close the parent's sockets)."""
    ref = weakref.ref(engine)

    def after_fork() -> None:
        child_engine = ref()
        if child_engine is not None:
            child_engine.dispose(close=False)

    os.register_at_fork(after_in_child=after_fork)


def _sqlite_events(engine: sa.Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transaction control away from the sqlite3 module: we issue BEGIN ourselves
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                # synchronous stays FULL: a committed catalog step (say, "deleting") must
                # survive a power loss, or the catalog could disagree with storage after it
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("frazil_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
