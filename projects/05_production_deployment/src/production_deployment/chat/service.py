"""Conversations, messages and metered chat turns. Functions never commit; a transaction does.

The flow is shared (``genai_shared.chat.service``); what is this project's own is the
history a turn sends (an agent's tool calls and results included), the money around a
turn and what production adds to it:

- the worst-case cost is held in Redis when metering runs there (``metering``), else
  reserved in the database (over budget: 402, and nothing is stored); the call settles
  where it was held, with the response an ``Idempotency-Key`` keeps for retries;
- a stream still running at the drain deadline of a restart ends (``drain``);
- the time to a stream's first event and the recent-conversations cache's hits and
  misses are metrics (``count_lookups``).
"""

from __future__ import annotations

import time
import uuid

from fastapi import Response

from genai_shared.chat.cache import LookupHook, RecentConversationsCache
from genai_shared.chat.schemas import ChatTurnRequest, ChatTurnResponse
from genai_shared.chat.service import Admission, ChatService, Idempotency
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.web.drain import Drain
from production_deployment.agent.history import load_history
from production_deployment.auth.dependencies import Principal
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.chat.models import Conversation, Message
from production_deployment.chat.schemas import MessagePublic
from production_deployment.core.config import Settings
from production_deployment.core.metrics import Metrics
from production_deployment.idempotency import service as idempotency
from production_deployment.usage import service as usage_service
from production_deployment.usage.exceptions import BudgetExceeded
from production_deployment.usage.redis_metering import RedisMetering
from production_deployment.usage.service import Meter

chat = ChatService(
    Conversation,
    Message,
    message_public=MessagePublic,
    not_found=ConversationNotFound,
    idempotency=Idempotency(
        guard=idempotency.guard,
        stored_response=idempotency.StoredResponse,
        replayed_headers=idempotency.REPLAYED,
    ),
    # With its tool calls and results intact, so the history replays to any provider.
    load_history=load_history,
)

create_conversation = chat.create_conversation
get_owned_conversation = chat.get_owned_conversation
list_conversations = chat.list_conversations
update_conversation = chat.update_conversation
delete_conversation = chat.delete_conversation
add_message = chat.add_message
list_messages = chat.list_messages


def count_lookups(metrics: Metrics) -> LookupHook:
    """The recent-conversations cache's ``on_lookup``: each first-page lookup counted in
    ``cache_requests_total{cache="recent_conversations", result="hit"|"miss"}`` (an
    unreachable cache is a miss: the database answered)."""
    hit = metrics.cache_requests.labels(cache="recent_conversations", result="hit")
    miss = metrics.cache_requests.labels(cache="recent_conversations", result="miss")

    def on_lookup(found: bool) -> None:
        (hit if found else miss).inc()

    return on_lookup


async def chat_turn(
    *,
    db: Database,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    metrics: Metrics,
    metering: RedisMetering | None,
    settings: Settings,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: ChatTurnRequest,
    idempotency_key: str | None,
    request_id: str | None,
    drain: Drain | None = None,
) -> ChatTurnResponse | Response:
    """One metered chat turn, charged to the caller, whole or streamed."""

    async def open_meter(admission: Admission[idempotency.Claim]) -> Meter:
        """Hold the call's worst case of the caller's budget (in Redis with ``metering``,
        else in the turn's transaction); settle it where it was held."""
        try:
            reservation = await usage_service.hold(
                metering=metering,
                session=admission.session,
                user_id=principal.user_id,
                budget_micro_usd=principal.user.monthly_budget_micro_usd,
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
            metering=metering,
        )

    def first_event(record: CallRecord) -> None:
        waited = time.perf_counter() - record.started
        metrics.first_token.labels(record.provider or "unknown").observe(waited)

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
        drain=drain,
        on_first_event=first_event,
    )
