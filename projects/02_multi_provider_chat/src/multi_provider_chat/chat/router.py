from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

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
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import UnprocessableEntity, error_responses
from genai_shared.web.sse import EventStreamResponse
from multi_provider_chat.chat import completion, service
from multi_provider_chat.chat.dependencies import ValidConversation
from multi_provider_chat.chat.exceptions import ConversationNotFound
from multi_provider_chat.chat.models import Conversation, Message
from multi_provider_chat.chat.schemas import ConversationCreate
from multi_provider_chat.users.exceptions import UserNotFound

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
    return await service.store.list_conversations(
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
    return await service.store.update_conversation(
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
    await service.store.delete_conversation(session=session, cache=cache, conversation=conversation)
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
    return await service.store.add_message(
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
    rows, next_cursor = await service.store.list_messages(
        session=session, conversation_id=conversation.id, limit=page.limit, cursor=page.cursor
    )
    return Page[MessagePublic](
        items=[MessagePublic.model_validate(row) for row in rows], next_cursor=next_cursor
    )


class MaxTokensTooLarge(UnprocessableEntity):
    message = "max_tokens is larger than this server allows"


CHAT_ERRORS = error_responses(
    ConversationNotFound,
    llm_errors.UnknownModel,
    llm_errors.ProviderRateLimited,
    llm_errors.ProviderDown,
    llm_errors.ProviderTimedOut,
    MaxTokensTooLarge,
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
    request: Request,
    registry: RegistryDep,
    conversations_cache: RecentConversationsDep,
) -> ChatTurnResponse | Response:
    """Send a user message and get the model's reply, whole (201) or streamed (200, SSE).

    The user's message is committed before the provider is called. A provider failure
    before any output is an HTTP error with its real status; one during a stream ends it
    with an `error` event, and the partial reply is kept.
    """
    settings = request.app.state.settings
    if data.max_tokens is not None and data.max_tokens > settings.chat_max_tokens_cap:
        raise MaxTokensTooLarge(
            details=[{"loc": ["body", "max_tokens"], "max": settings.chat_max_tokens_cap}]
        )
    turn = await completion.start_turn(
        db=request.app.state.db,
        conversations_cache=conversations_cache,
        registry=registry,
        conversation_id=conversation_id,
        data=data,
        history_limit=settings.chat_history_messages,
    )
    if data.stream:
        return EventStreamResponse(await completion.open_stream(turn, registry))
    return await completion.complete_turn(turn, registry)
