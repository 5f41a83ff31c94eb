"""Canary secrets never reach logs, error bodies or responses.

The canaries: the providers' keys (the fake upstream's test keys, which its
``server_error`` fault echoes back in a 500), the JWT secret, a user's password and a
user's API key. Logs are read from pytest's capture (every logger, DEBUG) and from the
app's own handler (genai_shared.log), where production output goes.
"""

from __future__ import annotations

import io
import logging

import httpx
import pytest

from genai_shared.testing.fake_upstream import FAKE_KEYS
from production_deployment.core.database import Base
from production_deployment.main import create_app

SECRET_KEY_CANARY = "jwt-secret-CANARY-7f3a9c1e5b2d4f6a8c0e"
PASSWORD_CANARY = "password-CANARY-correct-horse"
METRICS_TOKEN_CANARY = "metrics-CANARY-5e1d2c3b4a"


@pytest.fixture
async def leaky_world(sqlite_url, fake_upstream, settings_factory, signup, caplog):
    caplog.set_level(logging.DEBUG)
    settings = settings_factory(
        database_url=sqlite_url,
        secret_key=SECRET_KEY_CANARY,
        metrics_token=METRICS_TOKEN_CANARY,
        log_level="DEBUG",
        # The chat API's model names have no "=": reach the faults through aliases.
        llm_model_aliases={
            "broken-openai": "openai/gpt-4o-mini@fault=server_error",
            "broken-anthropic": "anthropic/claude-haiku-4-5@fault=server_error",
        },
        **fake_upstream.provider_settings().model_dump(exclude={"llm_model_aliases"}),
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "_genai_shared", 0))
        stream = io.StringIO()
        previous = handler.setStream(stream)  # type: ignore[attr-defined]
        try:
            async with app.state.db.engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                account = await signup(client, "canary@example.com", password=PASSWORD_CANARY)
                key = await client.post(
                    "/api/v1/api-keys", json={"name": "k"}, headers=account.headers
                )
                yield client, account, key.json()["key"], stream
        finally:
            handler.setStream(previous)  # type: ignore[attr-defined]


async def test_no_canary_leaks(leaky_world, caplog):
    client, account, api_key, app_log = leaky_world
    canaries = [*FAKE_KEYS, SECRET_KEY_CANARY, PASSWORD_CANARY, METRICS_TOKEN_CANARY, api_key]
    # <prefix>_<12 hex>_<secret>: the secret itself may contain "_", so split twice only.
    secret_part = api_key.split("_", 2)[2]
    assert len(secret_part) >= 40
    responses: list[httpx.Response] = []
    headers = {"X-API-Key": api_key}

    conversation = await client.post("/api/v1/conversations", json={"title": "t"}, headers=headers)
    chat = f"/api/v1/conversations/{conversation.json()['id']}/chat"
    for model in ("broken-openai", "broken-anthropic"):
        responses.append(
            await client.post(chat, json={"content": "hi", "model": model}, headers=headers)
        )
        responses.append(
            await client.post(
                "/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                headers=headers,
            )
        )
    assert [r.status_code for r in responses] == [502] * 4

    # Credentials used wrongly, in every place a secret could be echoed.
    responses += [
        await client.post(
            "/api/v1/auth/login",
            data={"username": account.email, "password": PASSWORD_CANARY + "x"},
        ),
        await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {api_key}x"}),
        await client.get("/api/v1/users/me", headers={"X-API-Key": secret_part}),
        await client.post(
            "/api/v1/auth/signup",
            json={"email": "bad", "display_name": "x", "password": PASSWORD_CANARY},
        ),
        await client.post(
            "/api/v1/conversations", json={"title": api_key, "api_key": api_key}, headers=headers
        ),
        await client.get("/api/v1/providers", headers=headers),
        await client.get("/v1/models", headers=headers),
        await client.get("/api/v1/api-keys", headers=account.headers),
        await client.get("/metrics"),
        await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN_CANARY}x"}),
        await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN_CANARY}"}),
        await client.get("/openapi.json"),
    ]
    everything = "\n".join(
        [r.text + repr(dict(r.headers)) for r in responses]
        + [caplog.text, app_log.getvalue()]
        + [record.getMessage() + repr(record.args) for record in caplog.records]
    )
    for canary in [*canaries, secret_part]:
        at = everything.find(canary)
        assert at < 0, f"leaked {canary[:12]}...: {everything[max(0, at - 300) : at + 50]!r}"
    assert "ProviderDown" in everything  # the 502s were ours, with our message
