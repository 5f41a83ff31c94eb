"""Streaming chat over a real socket: the shared contract's three promises, plus the ledger.

Every provider call is a usage row tied to its message and settles its budget reservation,
however the stream ended: ``assert_settled`` checks that after each case. Idempotency keys on
a stream are this project's own.
"""

from __future__ import annotations

from sqlalchemy import select

from genai_shared.llm.providers.mock_provider import MockScript
from genai_shared.testing.contracts import streaming
from genai_shared.testing.contracts.streaming import SpyProvider, parse_sse, read_deltas
from production_deployment.chat.models import Message
from production_deployment.main import create_app
from production_deployment.usage.models import UsageRecord, UserSpend


class _MeteredStreaming(streaming.StreamingFixtures):
    """Project 05's app, and its ledger as the settlement check."""

    message_model = Message
    create_app = create_app

    async def assert_settled(self, server: streaming.LiveChat, expected: streaming.Settled) -> None:
        """One ledger row per call, tied to its message, and no reservation left behind."""
        async with server.db.sessionmaker() as session:
            rows = list(await session.scalars(select(UsageRecord)))
            spend = list(await session.scalars(select(UserSpend)))
        assert [(r.status, r.message_id) for r in rows] == [(s, m.id) for s, m in expected]
        for row, (_, message) in zip(rows, expected, strict=True):
            assert (row.input_tokens, row.output_tokens) == (
                message.input_tokens,
                message.output_tokens,
            )
            assert row.usage_estimated == message.usage_estimated
            assert row.request_id
        assert [s.reserved_micro_usd for s in spend] == [0]


class TestStreaming(_MeteredStreaming, streaming.StreamingContract):
    """The contract's cases, each ending with the ledger check."""


class TestIdempotencyKeys(_MeteredStreaming):
    """Idempotency-Key on a stream: claimed before it starts, kept only once it is ``done``."""

    REPLY = " ".join(f"w{i}" for i in range(40))
    BODY = {"content": "hi", "stream": True}

    async def test_a_retry_while_streaming_is_409_and_after_it_a_replay(
        self, server: streaming.LiveChat
    ) -> None:
        spy = SpyProvider(MockScript(reply=self.REPLY, chunk_delay=0.02))
        headers = {"Idempotency-Key": "live-1"}
        async with server.chat(spy) as (client, path):
            async with client.stream("POST", path, json=self.BODY, headers=headers) as first:
                lines = first.aiter_lines()
                await read_deltas(lines, 2)
                meanwhile = await client.post(path, json=self.BODY, headers=headers)
                rest = "\n".join([line async for line in lines])
            replay = await client.post(path, json=self.BODY, headers=headers)
        assert meanwhile.status_code == 409
        assert meanwhile.json()["error"]["type"] == "IdempotentRequestInProgress"
        assert "event: done" in rest
        assert replay.status_code == 200
        assert replay.headers["idempotent-replayed"] == "true"
        events = parse_sse(replay.text)
        assert [name for name, _ in events] == ["start", "delta", "done"]
        assert events[1][1]["text"] == self.REPLY
        stored = await server.wait_for_status("complete")
        assert events[-1][1]["message_id"] == str(stored.id)
        await self.assert_settled(server, [("complete", stored)])

    async def test_a_client_that_left_can_retry_for_real(self, server: streaming.LiveChat) -> None:
        spy = SpyProvider(MockScript(reply=self.REPLY, chunk_delay=0.02))
        headers = {"Idempotency-Key": "live-2"}
        async with server.chat(spy) as (client, path):
            async with client.stream("POST", path, json=self.BODY, headers=headers) as first:
                assert len(await read_deltas(first.aiter_lines(), 3)) == 3
            cancelled = await server.wait_for_status("cancelled")
            retried = await client.post(path, json=self.BODY, headers=headers)
        assert retried.status_code == 200
        assert "idempotent-replayed" not in retried.headers
        events = parse_sse(retried.text)
        assert events[-1][0] == "done"
        assert "".join(d["text"] for name, d in events if name == "delta") == self.REPLY
        complete = await server.wait_for_status("complete")
        await self.assert_settled(server, [("cancelled", cancelled), ("complete", complete)])
