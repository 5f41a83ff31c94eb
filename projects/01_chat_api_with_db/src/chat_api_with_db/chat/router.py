"""The conversations and messages API. Each route names what it needs (the session, the
cache, the conversation in its path) as a typed dependency and hands the work to
``service``, which holds the queries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from chat_api_with_db.chat import service
from chat_api_with_db.chat.dependencies import ValidConversation
from chat_api_with_db.chat.exceptions import ConversationNotFound
from chat_api_with_db.chat.models import Conversation, Message
from chat_api_with_db.chat.schemas import ConversationCreate
from genai_shared.chat.dependencies import RecentConversationsDep
from genai_shared.chat.schemas import (
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
    MessagePublic,
)
from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.users.exceptions import UserNotFound
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses

router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationPublic,
    responses=error_responses(UserNotFound),
)
async def create_conversation(
    data: ConversationCreate, session: SessionDep, cache: RecentConversationsDep
) -> Conversation:
    return await service.create_conversation(session=session, cache=cache, data=data)


@router.get("", response_model=Page[ConversationPublic], responses=error_responses(InvalidCursor))
async def list_conversations(
    user_id: Annotated[uuid.UUID, Query(description="Whose conversations")],
    page: PageParamsDep,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Page[ConversationPublic]:
    """A user's conversations, newest first."""
    return await service.list_conversations(
        session=session, cache=cache, user_id=user_id, limit=page.limit, cursor=page.cursor
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationPublic,
    responses=error_responses(ConversationNotFound),
)
async def get_conversation(conversation: ValidConversation) -> Conversation:
    return conversation


@router.patch(
    "/{conversation_id}",
    response_model=ConversationPublic,
    responses=error_responses(ConversationNotFound),
)
async def update_conversation(
    data: ConversationUpdate,
    conversation: ValidConversation,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Conversation:
    return await service.update_conversation(
        session=session, cache=cache, conversation=conversation, data=data
    )


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ConversationNotFound),
)
async def delete_conversation(
    conversation: ValidConversation, session: SessionDep, cache: RecentConversationsDep
) -> Response:
    await service.delete_conversation(session=session, cache=cache, conversation=conversation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessagePublic,
    responses=error_responses(ConversationNotFound),
)
async def add_message(
    data: MessageCreate,
    conversation: ValidConversation,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Message:
    return await service.add_message(
        session=session, cache=cache, conversation=conversation, data=data
    )


@router.get(
    "/{conversation_id}/messages",
    response_model=Page[MessagePublic],
    responses=error_responses(ConversationNotFound, InvalidCursor),
)
async def list_messages(
    conversation: ValidConversation, page: PageParamsDep, session: SessionDep
) -> Page[MessagePublic]:
    """A conversation's messages, oldest first."""
    return await service.list_messages(
        session=session, conversation_id=conversation.id, limit=page.limit, cursor=page.cursor
    )
