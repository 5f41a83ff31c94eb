"""Conversations and messages. Functions never commit; the request's session does.

The storage logic is shared by every project (``genai_shared.chat.store``); what is this
project's own is ownership: a conversation belongs to the caller, and looking one up
always names its owner, so another user's conversation is simply not found.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.store import ConversationStore
from secure_chat_api.chat.models import Conversation, Message

store = ConversationStore(Conversation, Message)

create_conversation = store.create_conversation
list_conversations = store.list_conversations
update_conversation = store.update_conversation
delete_conversation = store.delete_conversation
add_message = store.add_message
list_messages = store.list_messages


async def get_owned_conversation(
    *, session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> Conversation | None:
    """The conversation if it exists and belongs to this user, else None."""
    return await store.get_conversation(
        session=session, conversation_id=conversation_id, user_id=user_id
    )
