"""Alembic migrations of the catalog schema, run by the client on open (see ``env.py``)."""
