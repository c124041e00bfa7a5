"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os

import pytest


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
