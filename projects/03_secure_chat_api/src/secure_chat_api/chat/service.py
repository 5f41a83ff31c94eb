"""Conversations, messages and metered chat turns. Functions never commit; a transaction does.

The flow is shared (``genai_shared.chat.service``); what is this project's own is the
money around a turn: its worst-case cost is reserved from the caller's monthly budget
(over budget: 402, and nothing is stored), and the call is settled into this project's
usage ledger, with the response an ``Idempotency-Key`` keeps for retries.
"""

from __future__ import annotations

import uuid

from fastapi import Response

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import ChatMessagePublic, ChatTurnRequest, ChatTurnResponse
from genai_shared.chat.service import Admission, ChatService, Idempotency
from genai_shared.db.session import Database
from genai_shared.llm.registry import ProviderRegistry
from secure_chat_api.auth.dependencies import Principal
from secure_chat_api.chat.exceptions import ConversationNotFound
from secure_chat_api.chat.models import Conversation, Message
from secure_chat_api.core.config import Settings
from secure_chat_api.core.metrics import Metrics
from secure_chat_api.idempotency import service as idempotency
from secure_chat_api.usage import service as usage_service
from secure_chat_api.usage.exceptions import BudgetExceeded
from secure_chat_api.usage.service import Meter

chat = ChatService(
    Conversation,
    Message,
    message_public=ChatMessagePublic,
    not_found=ConversationNotFound,
    idempotency=Idempotency(
        guard=idempotency.guard,
        stored_response=idempotency.StoredResponse,
        replayed_headers=idempotency.REPLAYED,
    ),
)

create_conversation = chat.create_conversation
get_owned_conversation = chat.get_owned_conversation
list_conversations = chat.list_conversations
update_conversation = chat.update_conversation
delete_conversation = chat.delete_conversation
add_message = chat.add_message
list_messages = chat.list_messages


async def chat_turn(
    *,
    db: Database,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    metrics: Metrics,
    settings: Settings,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    idempotency_key: str | None,
    request_id: str | None,
) -> ChatTurnResponse | Response:
    """One metered chat turn, charged to the caller, whole or streamed."""

    async def open_meter(admission: Admission[idempotency.Claim]) -> Meter:
        """Reserve the call's worst case from the caller's budget; settle it later."""
        try:
            reservation = await usage_service.reserve(
                session=admission.session,
                user_id=principal.user_id,
                amount_micro_usd=usage_service.worst_case_micro(
                    admission.chain.targets, admission.history, admission.max_tokens
                ),
                request_id=request_id,
            )
        except BudgetExceeded:
            metrics.budget_refusals.inc()
            raise
        return Meter(
            db=db,
            metrics=metrics,
            reservation=reservation,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            request_id=request_id,
            route="chat",
            conversation_id=conversation_id,
            claim=admission.claim,
        )

    return await chat.chat_turn(
        db=db,
        cache=cache,
        registry=registry,
        settings=settings,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        data=data,
        idempotency_key=idempotency_key,
        open_meter=open_meter,
    )
