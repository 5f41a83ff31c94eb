"""The messages of a conversation, from the shared contracts."""

from __future__ import annotations

from genai_shared.testing.contracts.messages import MessageInputContract, MessagesContract
from multi_provider_chat.chat.schemas import MAX_MESSAGE_CHARS


class TestMessages(MessagesContract):
    max_message_chars = MAX_MESSAGE_CHARS


class TestInput(MessageInputContract):
    max_message_chars = MAX_MESSAGE_CHARS
