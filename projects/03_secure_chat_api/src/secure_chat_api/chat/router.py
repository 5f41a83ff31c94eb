from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Request, Response, status
from fastapi.responses import JSONResponse

from genai_shared.chat.dependencies import RecentConversationsDep
from genai_shared.chat.schemas import ChatMessagePublic as MessagePublic
from genai_shared.chat.schemas import (
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.llm import http_errors as llm_errors
from genai_shared.llm.dependencies import RegistryDep
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import UnprocessableEntity, error_responses
from genai_shared.web.request_id import current_request_id
from genai_shared.web.sse import EventStreamResponse
from secure_chat_api.auth.dependencies import PrincipalDep
from secure_chat_api.chat import completion, service
from secure_chat_api.chat.dependencies import OwnedConversation
from secure_chat_api.chat.exceptions import ConversationNotFound
from secure_chat_api.chat.models import Conversation, Message
from secure_chat_api.core.config import Settings
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from secure_chat_api.usage.exceptions import BudgetExceeded

router = APIRouter(prefix="/conversations", tags=["conversations"])
turn_router = APIRouter(prefix="/conversations", tags=["chat"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationPublic)
async def create_conversation(
    data: ConversationCreate,
    principal: PrincipalDep,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Conversation:
    return await service.store.create_conversation(
        session=session, cache=cache, user_id=principal.user_id, data=data
    )


@router.get("", response_model=Page[ConversationPublic], responses=error_responses(InvalidCursor))
async def list_conversations(
    principal: PrincipalDep,
    page: PageParamsDep,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Page[ConversationPublic]:
    """Your conversations, newest first."""
    return await service.store.list_conversations(
        session=session,
        cache=cache,
        user_id=principal.user_id,
        limit=page.limit,
        cursor=page.cursor,
    )


@router.get(
    "/{conversation_id}",
    response_model=ConversationPublic,
    responses=error_responses(ConversationNotFound),
)
async def get_conversation(conversation: OwnedConversation) -> Conversation:
    return conversation


@router.patch(
    "/{conversation_id}",
    response_model=ConversationPublic,
    responses=error_responses(ConversationNotFound),
)
async def update_conversation(
    data: ConversationUpdate,
    conversation: OwnedConversation,
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
    conversation: OwnedConversation, session: SessionDep, cache: RecentConversationsDep
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
    conversation: OwnedConversation,
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
    conversation: OwnedConversation, page: PageParamsDep, session: SessionDep
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
    BudgetExceeded,
    llm_errors.UnknownModel,
    llm_errors.ProviderRateLimited,
    llm_errors.ProviderDown,
    llm_errors.ProviderTimedOut,
    MaxTokensTooLarge,
    IdempotencyKeyReused,
    IdempotencyKeyInvalid,
    IdempotentRequestInProgress,
)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="Send the same key when retrying: the first result is returned again",
    ),
]


@turn_router.post(
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
    principal: PrincipalDep,
    registry: RegistryDep,
    conversations_cache: RecentConversationsDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ChatTurnResponse | Response:
    """Send a user message and get the model's reply, whole (201) or streamed (200, SSE).

    With an `Idempotency-Key`, a retry of a completed turn gets the first response again
    (a stream: the same `start` and `done` events, the text in one `delta`), marked
    `Idempotent-Replayed: true`; nothing is stored or charged twice.

    The call's worst-case cost is reserved from your monthly budget first (402 when it
    does not fit). The user's message is committed before the provider is called. A
    provider failure before any output is an HTTP error with its real status; one during
    a stream ends it with an `error` event, and the partial reply is kept.
    """
    settings: Settings = request.app.state.settings
    if data.max_tokens is not None and data.max_tokens > settings.chat_max_tokens_cap:
        raise MaxTokensTooLarge(
            details=[{"loc": ["body", "max_tokens"], "max": settings.chat_max_tokens_cap}]
        )
    claim: idempotency.Claim | None = None
    if idempotency_key is not None:
        outcome = await idempotency.begin(
            db=request.app.state.db,
            user_id=principal.user_id,
            key=idempotency_key,
            fingerprint=idempotency.request_hash(
                f"chat:{conversation_id}", data.model_dump(mode="json")
            ),
            ttl_seconds=settings.idempotency_ttl_seconds,
        )
        if isinstance(outcome, idempotency.Replay):
            if data.stream:
                return EventStreamResponse(
                    completion.replay_stream(outcome.body), headers=idempotency.REPLAYED
                )
            return JSONResponse(
                outcome.body, status_code=outcome.status_code, headers=idempotency.REPLAYED
            )
        claim = outcome
    try:
        turn = await completion.start_turn(
            db=request.app.state.db,
            conversations_cache=conversations_cache,
            registry=registry,
            metrics=request.app.state.metrics,
            principal=principal,
            conversation_id=conversation_id,
            data=data,
            history_limit=settings.chat_history_messages,
            default_max_tokens=min(settings.llm_default_max_tokens, settings.chat_max_tokens_cap),
            request_id=current_request_id(),
            claim=claim,
        )
        if data.stream:
            return EventStreamResponse(await completion.open_stream(turn))
        result = await completion.complete_turn(turn)
    except BaseException:
        if claim is not None:  # failed before the call settled (which releases it itself)
            with anyio.CancelScope(shield=True):
                await idempotency.release(db=request.app.state.db, claim=claim)
        raise
    return result
