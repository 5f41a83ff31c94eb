from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from genai_shared.web.dependencies import SessionDep
from multi_provider_chat.chat import service
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation


async def valid_conversation_id(conversation_id: uuid.UUID, session: SessionDep) -> Conversation:
    """Load the conversation named in the path or raise 404."""
    conversation = await service.get_conversation(session=session, conversation_id=conversation_id)
    if conversation is None:
        raise ConversationNotFound
    return conversation


ValidConversation = Annotated[Conversation, Depends(valid_conversation_id)]
