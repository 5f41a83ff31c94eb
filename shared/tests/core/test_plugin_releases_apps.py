"""The plugin lets each test's apps go: FastAPI's callable caches do not keep them alive.

The two tests run in file order: the first builds an app whose endpoint closes over it and
serves one request; the second checks that app was collected in between.
"""

from __future__ import annotations

import gc
import weakref

from fastapi import FastAPI

from genai_shared.testing.plugin import serve_in_process

apps_of_earlier_tests: list[weakref.ref[FastAPI]] = []


async def test_an_app_whose_endpoint_closes_over_it_serves_a_request() -> None:
    app = FastAPI()

    @app.get("/title")
    async def title() -> str:
        return app.title

    async with serve_in_process(app) as client:
        assert (await client.get("/title")).json() == "FastAPI"
    apps_of_earlier_tests.append(weakref.ref(app))


def test_the_app_of_the_earlier_test_is_gone() -> None:
    gc.collect()
    assert apps_of_earlier_tests
    assert all(ref() is None for ref in apps_of_earlier_tests)
