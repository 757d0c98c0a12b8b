"""schemathesis against a live server, with every role's credential: no server errors.

The CI-sized run (3 generated cases per operation, each sent as operator, coordinator, body
and anonymous: about 200 requests per backend); ``python -m benchmarks.api_fuzz`` is the
long run (≥ 5,000 requests, results in benchmarks/results/).
"""

from __future__ import annotations

from server_testkit import LiveServer

from benchmarks.api_fuzz import ROLES, fuzz, openapi_document


def test_generated_requests_never_get_a_server_error(live: LiveServer) -> None:
    schema = openapi_document()
    report = fuzz(live.url, live.operator, examples=3, schema=schema)
    assert report.operations == sum(len(ops) for ops in schema["paths"].values())
    assert report.requests >= 150
    assert set(report.by_role) == set(ROLES)
    assert report.server_errors == [], report.server_errors[:5]
    assert report.transport_errors == []
    # the generated requests got past authentication and the project lookup, too
    assert sum(n for status, n in report.by_status.items() if 200 <= status < 300) >= 10
