"""The conversation a path names, loaded once per request for every route that needs it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from chat_api_with_db.chat import service
from chat_api_with_db.chat.exceptions import ConversationNotFound
from chat_api_with_db.chat.models import Conversation
from genai_shared.web.dependencies import SessionDep


async def valid_conversation_id(conversation_id: uuid.UUID, session: SessionDep) -> Conversation:
    """Load the conversation named in the path or raise 404."""
    conversation = await service.get_conversation(session=session, conversation_id=conversation_id)
    if conversation is None:
        raise ConversationNotFound
    return conversation


ValidConversation = Annotated[Conversation, Depends(valid_conversation_id)]
