"""The coordinator's tables (SQLAlchemy Core): SQLite by default, PostgreSQL by URL.

Datasets (their owners' signed registrations and sealed volumes: ciphertext only), jobs (the
provider's signed spec, the program's archive, the state), owners' approvals, MPC parties'
addresses, and sealed outputs with the result's receipt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from trustroom._core.paths import trustroom_home
from trustroom._core.sql import sqlite_write_ahead_log
from trustroom.cleanroom._errors import CleanroomError

__all__ = ["CoordinatorStore", "StoreUnavailable", "default_database_url"]

_metadata = sa.MetaData()
datasets = sa.Table(
    "cleanroom_datasets",
    _metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("registration", sa.JSON, nullable=False),
    sa.Column("volume", sa.LargeBinary, nullable=False),
)
jobs = sa.Table(
    "cleanroom_jobs",
    _metadata,
    sa.Column("id", sa.String(80), primary_key=True),  # the spec's digest
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("submission", sa.JSON, nullable=False),
    sa.Column("program", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("claimed_by", sa.String(128)),
    # The digest of the key broker's release policy installed when the job was approved.
    sa.Column("policy", sa.String(80)),
    sa.Column("result", sa.JSON),
    sa.Column("receipt", sa.Text),
    sa.Column("error", sa.Text),
)
approvals = sa.Table(
    "cleanroom_approvals",
    _metadata,
    sa.Column("job", sa.String(80), primary_key=True),
    sa.Column("party", sa.String(128), primary_key=True),
    sa.Column("message", sa.JSON, nullable=False),
    sa.Column("log_index", sa.BigInteger, nullable=False),
)
parties = sa.Table(
    "cleanroom_parties",
    _metadata,
    sa.Column("job", sa.String(80), primary_key=True),
    sa.Column("rank", sa.Integer, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("certificate", sa.Text, nullable=False),
    sa.Column("result", sa.JSON),  # what the party reports when it is done
)
outputs = sa.Table(
    "cleanroom_outputs",
    _metadata,
    sa.Column("job", sa.String(80), primary_key=True),
    sa.Column("file", sa.String(300), primary_key=True),
    sa.Column("output", sa.String(300), nullable=False),  # as the result record names it
    sa.Column("recipient", sa.String(128), nullable=False),
    sa.Column("envelope", sa.LargeBinary, nullable=False),
)


class StoreUnavailable(CleanroomError):
    code = "cleanroom_store_unavailable"
    default_hint = "Check the coordinator's database (its URL, its disk, the server)."


def default_database_url() -> str:
    """``sqlite:///$TRUSTROOM_HOME/cleanroom/coordinator.db``."""
    return f"sqlite:///{trustroom_home() / 'cleanroom' / 'coordinator.db'}"


class CoordinatorStore:
    """The tables on one engine, created if missing."""

    def __init__(self, url: str | None = None) -> None:
        url = url or default_database_url()
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_write_ahead_log("NORMAL", 10_000))
        with self.transaction():
            _metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as db:
                yield db
        except OperationalError as exc:
            raise StoreUnavailable(
                f"the coordinator's database did not answer: {exc.orig}"
            ) from exc

    def insert(self, table: sa.Table, values: dict[str, Any], duplicate: str) -> None:
        """Insert a row; CleanroomError(``duplicate``) if its key exists already."""
        try:
            with self.transaction() as db:
                db.execute(table.insert(), values)
        except IntegrityError as exc:
            raise CleanroomError(duplicate) from exc
