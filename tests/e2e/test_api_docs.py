"""The API docs page (/api/docs/) renders in a browser that can reach nothing but our own server."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_the_operations_without_any_other_host(page, live_server):  # type: ignore[no-untyped-def]
    local = urlsplit(live_server.url).netloc
    blocked: list[str] = []

    def only_local(route):  # type: ignore[no-untyped-def]
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(live_server.url + "/api/docs/")
    # Swagger UI gives each operation an element id ending in its operationId.
    page.wait_for_selector("[id$='-accounts_list']", timeout=15_000)
    assert page.locator("[id$='-transactions_sync']").count() >= 1
    assert page.locator("[id$='-consents_create']").count() >= 1
    assert blocked == []
