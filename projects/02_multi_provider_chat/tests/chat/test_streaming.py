"""Streaming chat: over a real socket, the shared contract's three promises; in process,
what a client reads and what is stored.

Project 02 keeps no usage ledger: the stored message is the whole record of a call, and the
contract checks it.
"""

from __future__ import annotations

import httpx

from genai_shared.testing.contracts import streaming
from genai_shared.testing.contracts.support import CONVERSATIONS, Owner, new_conversation
from multi_provider_chat.chat.models import Message
from multi_provider_chat.main import create_app


class TestStreaming(streaming.StreamingContract):
    message_model = Message
    create_app = create_app


async def test_a_stream_in_process_ends_with_done_and_stores_the_reply(
    client: httpx.AsyncClient, owner: Owner
) -> None:
    """The same events without a socket: ``start``, the deltas, one ``done``; then the stored
    reply is the streamed text."""
    path = f"{CONVERSATIONS}/{(await new_conversation(client, owner))['id']}"
    response = await client.post(f"{path}/chat", json={"content": "stream me", "stream": True})
    assert response.status_code == 200
    events = streaming.parse_sse(response.text)
    names = [name for name, _ in events]
    assert (names[0], names[-1], names.count("done")) == ("start", "done", 1)
    text = "".join(data["text"] for name, data in events if name == "delta")
    assert text == "Echo: stream me"
    items = (await client.get(f"{path}/messages")).json()["items"]
    assert [(m["role"], m["content"]) for m in items] == [
        ("user", "stream me"),
        ("assistant", text),
    ]
    assert items[1]["id"] == events[0][1]["message_id"] == events[-1][1]["message_id"]
