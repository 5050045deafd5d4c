from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ldap.slapd import Slapd, ensure_tools, start_slapd


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One real OpenLDAP for the session (it takes ~0.3 s to start, tests only read from it)."""
    reason = ensure_tools()
    if reason:
        pytest.skip(reason)
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()
