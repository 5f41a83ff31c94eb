"""The conversations API, from the shared contracts; the owner is the signed-in user."""

from __future__ import annotations

import uuid

import pytest

from genai_shared.testing.contracts import conversations
from production_deployment.chat.models import Message


class TestConversations(conversations.ConversationsContract):
    message_model = Message


@pytest.mark.sqlite_only
class TestInput(conversations.ConversationInputContract):
    async def test_a_user_id_in_the_body_is_422(self, client, expect_error):
        """The owner comes from the credential: a body cannot name one."""
        body = {"title": "ok", "user_id": str(uuid.uuid4())}
        expect_error(await client.post("/api/v1/conversations", json=body), 422, "ValidationError")
