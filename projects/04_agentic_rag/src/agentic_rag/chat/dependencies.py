from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from agentic_rag.auth.dependencies import PrincipalDep
from agentic_rag.chat import service
from agentic_rag.chat.exceptions import ConversationNotFound
from agentic_rag.chat.models import Conversation
from genai_shared.web.dependencies import SessionDep


async def owned_conversation(
    conversation_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Conversation:
    """The caller's conversation named in the path; anyone else's is a 404, like a
    missing one, so ids of other users' conversations cannot be probed."""
    conversation = await service.get_owned_conversation(
        session=session, conversation_id=conversation_id, owner_id=principal.user_id
    )
    if conversation is None:
        raise ConversationNotFound
    return conversation


OwnedConversation = Annotated[Conversation, Depends(owned_conversation)]
