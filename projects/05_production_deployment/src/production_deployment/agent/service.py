"""The agent loop (``genai_shared.agent.service``) bound to project 05: its tables, its
errors, and its usage ledger, where each model call of a run is held in Redis when
metering runs there, else in the database (``usage.service.hold``), and settled by a
``Meter``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.agent.registry import Caller, ToolRegistry
from genai_shared.agent.schemas import AgentTurnRequest
from genai_shared.agent.service import AgentEvent, AgentRunner, AgentService, Caps
from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.db.session import Database
from genai_shared.llm.calls import Target
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.types import ChatMessage
from production_deployment.agent.models import AgentRun, ToolExecution
from production_deployment.auth.dependencies import Principal
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.chat.models import Conversation, Message
from production_deployment.core.config import Settings
from production_deployment.core.metrics import Metrics
from production_deployment.usage import service as usage_service
from production_deployment.usage.exceptions import BudgetExceeded
from production_deployment.usage.redis_metering import RedisMetering
from production_deployment.usage.service import Meter

__all__ = ["AgentEvent", "AgentRunner", "Caps", "agent", "start_agent_turn"]

agent = AgentService(
    conversation_model=Conversation,
    message_model=Message,
    run_model=AgentRun,
    execution_model=ToolExecution,
    conversation_not_found=ConversationNotFound,
    budget_exceeded=BudgetExceeded,
)

get_run = agent.get_run
get_any_run = agent.get_any_run
list_runs = agent.list_runs
list_executions = agent.list_executions
list_all_executions = agent.list_all_executions


async def start_agent_turn(
    *,
    db: Database,
    metering: RedisMetering | None,
    cache: RecentConversationsCache,
    registry: ProviderRegistry,
    tools: ToolRegistry,
    metrics: Metrics,
    settings: Settings,
    principal: Principal,
    conversation_id: uuid.UUID,
    data: AgentTurnRequest,
    request_id: str | None,
) -> AgentRunner:
    """Start a run for ``principal`` (402 when its first call does not fit the budget)."""

    async def reserve(
        session: AsyncSession,
        targets: Sequence[Target],
        messages: list[ChatMessage],
        max_tokens: int,
    ) -> Meter:
        reservation = await usage_service.hold(
            metering=metering,
            session=session,
            user_id=principal.user_id,
            budget_micro_usd=principal.user.monthly_budget_micro_usd,
            amount_micro_usd=usage_service.worst_case_micro(targets, messages, max_tokens),
            request_id=request_id,
        )
        return Meter(
            db=db,
            metrics=metrics,
            reservation=reservation,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            request_id=request_id,
            route="chat",
            conversation_id=conversation_id,
            metering=metering,
        )

    return await agent.start_turn(
        db=db,
        cache=cache,
        registry=registry,
        tools=tools,
        metrics=metrics,
        settings=settings,
        caller=Caller.of(principal),
        conversation_id=conversation_id,
        data=data,
        request_id=request_id,
        reserve=reserve,
    )
