from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from multi_provider_chat.chat import service
from multi_provider_chat.chat.cache import RecentConversationsCache, recent_conversations_cache
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation
from multi_provider_chat.core.dependencies import CacheDep, SessionDep


async def valid_conversation_id(conversation_id: uuid.UUID, session: SessionDep) -> Conversation:
    """Load the conversation named in the path or raise 404."""
    conversation = await service.store.get_conversation(
        session=session, conversation_id=conversation_id
    )
    if conversation is None:
        raise ConversationNotFound
    return conversation


async def conversations_cache(request: Request, cache: CacheDep) -> RecentConversationsCache:
    return recent_conversations_cache(
        cache, ttl_seconds=request.app.state.settings.cache_ttl_seconds
    )


ValidConversation = Annotated[Conversation, Depends(valid_conversation_id)]
ConversationCacheDep = Annotated[RecentConversationsCache, Depends(conversations_cache)]
