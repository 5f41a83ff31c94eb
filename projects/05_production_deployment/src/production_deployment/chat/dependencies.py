from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.chat import service
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.chat.models import Conversation


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
