"""Alembic's entry point: migrate the connection the catalog client hands over.

The client opens the connection, starts the (serialised) write transaction and passes it in
``config.attributes["connection"]``; the migrations run inside that transaction, so a
catalog is either at the old revision or at the new one, never in between.
"""

from __future__ import annotations

from alembic import context


def _run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "the frazil catalog migrations run on a connection given by the client "
            "(frazil.Client opens and migrates its database itself)"
        )
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=config.attributes.get("version_table", "frazil_catalog_version"),
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
