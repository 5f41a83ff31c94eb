from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from genai_shared.chat.dependencies import RecentConversationsDep
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
from genai_shared.web.dependencies import DatabaseDep, DrainDep, SessionDep
from genai_shared.web.errors import error_responses
from genai_shared.web.request_id import current_request_id
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.chat import service
from production_deployment.chat.dependencies import OwnedConversation
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.chat.models import Conversation, Message
from production_deployment.chat.schemas import MessagePublic
from production_deployment.core.config import SettingsDep
from production_deployment.core.metrics import MetricsDep
from production_deployment.idempotency.dependencies import IdempotencyKeyHeader
from production_deployment.idempotency.exceptions import (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotentRequestInProgress,
)
from production_deployment.usage.dependencies import MeteringDep
from production_deployment.usage.exceptions import BudgetExceeded

router = APIRouter(prefix="/conversations", tags=["conversations"])
turn_router = APIRouter(prefix="/conversations", tags=["chat"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationPublic)
async def create_conversation(
    data: ConversationCreate,
    principal: PrincipalDep,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Conversation:
    return await service.create_conversation(
        session=session, cache=cache, owner_id=principal.user_id, data=data
    )


@router.get("", response_model=Page[ConversationPublic], responses=error_responses(InvalidCursor))
async def list_conversations(
    principal: PrincipalDep,
    page: PageParamsDep,
    session: SessionDep,
    cache: RecentConversationsDep,
) -> Page[ConversationPublic]:
    """Your conversations, newest first."""
    return await service.list_conversations(
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
    return await service.update_conversation(
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
    conversation: OwnedConversation,
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
    conversation: OwnedConversation, page: PageParamsDep, session: SessionDep
) -> Page[MessagePublic]:
    """A conversation's messages, oldest first."""
    return await service.list_messages(
        session=session, conversation_id=conversation.id, limit=page.limit, cursor=page.cursor
    )


CHAT_ERRORS = error_responses(
    ConversationNotFound,
    BudgetExceeded,
    llm_errors.UnknownModel,
    llm_errors.ProviderRateLimited,
    llm_errors.ProviderDown,
    llm_errors.ProviderTimedOut,
    llm_errors.MaxTokensTooLarge,
    IdempotencyKeyReused,
    IdempotencyKeyInvalid,
    IdempotentRequestInProgress,
)


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
    principal: PrincipalDep,
    db: DatabaseDep,
    cache: RecentConversationsDep,
    registry: RegistryDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    drain: DrainDep,
    metering: MeteringDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> ChatTurnResponse | Response:
    """Send a user message and get the model's reply, whole (201) or streamed (200, SSE).

    With an `Idempotency-Key`, a retry of a completed turn gets the first response again
    (a stream: the same `start` and `done` events, the text in one `delta`), marked
    `Idempotent-Replayed: true`; nothing is stored or charged twice.

    The call's worst-case cost is reserved from your monthly budget first (402 when it
    does not fit). The user's message is committed before the provider is called. A
    provider failure before any output is an HTTP error with its real status; one during
    a stream ends it with an `error` event, and the partial reply is kept. So does a
    server restart that outlasts the drain deadline (`ServerShuttingDown`).
    """
    return await service.chat_turn(
        db=db,
        metering=metering,
        cache=cache,
        registry=registry,
        metrics=metrics,
        settings=settings,
        principal=principal,
        conversation_id=conversation_id,
        data=data,
        idempotency_key=idempotency_key,
        request_id=current_request_id(),
        drain=drain,
    )
