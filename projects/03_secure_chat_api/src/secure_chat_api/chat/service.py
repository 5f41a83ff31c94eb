"""Conversations and messages. Functions never commit; the request's session does.

The storage logic is shared by every project (``genai_shared.chat.store``). What is this
project's own is ownership, and it lives where the caller is known: a conversation is
created for the signed-in user, and ``chat.dependencies.owned_conversation`` looks one up
with its owner named, so another user's conversation is simply not found (404).
"""

from __future__ import annotations

from genai_shared.chat.store import ConversationStore
from secure_chat_api.chat.models import Conversation, Message

store = ConversationStore(Conversation, Message)
