"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa


@pytest.fixture
def postgres_url() -> str:
    """The SQLAlchemy URL of the test PostgreSQL server that `make test` starts.

    Outside `make test` the tests that need it are skipped, except in CI, where a missing
    server is a failure: those tests must run there.
    """
    url = os.environ.get("TRUSTROOM_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TRUSTROOM_TEST_DATABASE_URL is not set: run the tests with `make test`")
        pytest.skip("no test PostgreSQL (run `make test`, or scripts/test-postgres)")
    return url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    server = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()
