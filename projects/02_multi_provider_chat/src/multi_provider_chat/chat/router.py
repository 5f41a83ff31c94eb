from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from genai_shared.chat.dependencies import RecentConversationsDep
from genai_shared.chat.schemas import ChatMessagePublic as MessagePublic
from genai_shared.chat.schemas import (
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.llm import http_errors as llm_errors
from genai_shared.llm.dependencies import RegistryDep
from genai_shared.users.exceptions import UserNotFound
from genai_shared.web.dependencies import DatabaseDep, SessionDep
from genai_shared.web.errors import error_responses
from multi_provider_chat.chat import service
from multi_provider_chat.chat.dependencies import ValidConversation
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation, Message
from multi_provider_chat.chat.schemas import ConversationCreate
from multi_provider_chat.core.config import SettingsDep

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


CHAT_ERRORS = error_responses(
    ConversationNotFound,
    llm_errors.UnknownModel,
    llm_errors.ProviderRateLimited,
    llm_errors.ProviderDown,
    llm_errors.ProviderTimedOut,
    llm_errors.MaxTokensTooLarge,
)


@router.post(
    "/{conversation_id}/chat",
    status_code=status.HTTP_201_CREATED,
    response_model=ChatTurnResponse,
    responses={
        **CHAT_ERRORS,
        200: {
            "description": "With `stream: true`: server-sent events `start`, `delta`..., "
            "then `done` or `error`",
            "content": {"text/event-stream": {}},
        },
    },
)
async def chat(
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    db: DatabaseDep,
    cache: RecentConversationsDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> ChatTurnResponse | Response:
    """Send a user message and get the model's reply, whole (201) or streamed (200, SSE).

    The user's message is committed before the provider is called. A provider failure
    before any output is an HTTP error with its real status; one during a stream ends it
    with an `error` event, and the partial reply is kept.
    """
    return await service.chat_turn(
        db=db,
        cache=cache,
        registry=registry,
        settings=settings,
        conversation_id=conversation_id,
        data=data,
    )
