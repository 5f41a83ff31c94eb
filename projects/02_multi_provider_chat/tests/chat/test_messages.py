"""The messages of a conversation, from the shared contracts."""

from __future__ import annotations

from genai_shared.chat.schemas import MAX_MESSAGE_CHARS
from genai_shared.testing.contracts.messages import MessageInputContract, MessagesContract


class TestMessages(MessagesContract):
    max_message_chars = MAX_MESSAGE_CHARS


class TestInput(MessageInputContract):
    max_message_chars = MAX_MESSAGE_CHARS
