"""Conversations and messages. Functions never commit; the request's session does.

The storage logic is shared by every project (``genai_shared.chat.store``); what is this
project's own is that a conversation's owner is named in the request, so it must exist.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from chat_api_with_db.chat.models import Conversation, Message
from chat_api_with_db.chat.schemas import ConversationCreate
from chat_api_with_db.users import service as users_service
from chat_api_with_db.users.exceptions import UserNotFound
from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.store import ConversationStore

store = ConversationStore(Conversation, Message)


async def create_conversation(
    *, session: AsyncSession, cache: RecentConversationsCache, data: ConversationCreate
) -> Conversation:
    """Create a conversation for an existing user."""
    if await users_service.get(session=session, user_id=data.user_id) is None:
        raise UserNotFound(details=[{"loc": ["body", "user_id"]}])
    return await store.create_conversation(
        session=session, cache=cache, user_id=data.user_id, data=data
    )
