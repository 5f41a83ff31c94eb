"""The agent's routes. Guards are applied where the routers are assembled (``main.py``):

- ``turn_router``: ``POST /conversations/{id}/agent`` (signed in, the chat rate limit);
- ``router``: the caller's own runs and tool executions (signed in, the default limit);
- ``admin_router``: everyone's tool executions and runs (``auth.dependencies.admin``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from genai_shared.chat.dependencies import RecentConversationsDep
from genai_shared.db.pagination import InvalidCursor, Page, PageParamsDep
from genai_shared.llm import http_errors as llm_errors
from genai_shared.llm.dependencies import RegistryDep
from genai_shared.web.dependencies import DatabaseDep, SessionDep
from genai_shared.web.errors import error_responses
from genai_shared.web.request_id import current_request_id
from genai_shared.web.sse import EventStreamResponse
from production_deployment.agent import service
from production_deployment.agent.dependencies import ToolsDep
from production_deployment.agent.exceptions import AgentRunNotFound
from production_deployment.agent.models import AgentRun, ToolStatus
from production_deployment.agent.schemas import (
    AgentRunDetail,
    AgentRunPublic,
    AgentTurnRequest,
    AgentTurnResponse,
    ToolExecutionPublic,
)
from production_deployment.agent.service import AgentEvent
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.chat.dependencies import OwnedConversation
from production_deployment.chat.exceptions import ConversationNotFound
from production_deployment.core.config import SettingsDep
from production_deployment.core.metrics import MetricsDep
from production_deployment.usage.dependencies import MeteringDep
from production_deployment.usage.exceptions import BudgetExceeded

router = APIRouter(tags=["agent"])
turn_router = APIRouter(prefix="/conversations", tags=["agent"])
admin_router = APIRouter(prefix="/admin", tags=["admin"])

ToolName = Annotated[str | None, Query(max_length=64, description="Only this tool's")]
StatusFilter = Annotated[ToolStatus | None, Query(description="Only executions that ended so")]


@turn_router.post(
    "/{conversation_id}/agent",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentTurnResponse,
    responses={
        **error_responses(
            ConversationNotFound,
            BudgetExceeded,
            llm_errors.UnknownModel,
            llm_errors.ProviderRateLimited,
            llm_errors.ProviderDown,
            llm_errors.ProviderTimedOut,
            llm_errors.MaxTokensTooLarge,
        ),
        200: {
            "description": "With `stream: true`: server-sent events `step`, `delta`, "
            "`tool_call`, `tool_result` per step, then `citation`s and `done` (after an "
            "`error` when the provider failed mid-run)",
            "content": {"text/event-stream": {}},
        },
    },
)
async def agent_turn(
    conversation_id: uuid.UUID,
    data: AgentTurnRequest,
    principal: PrincipalDep,
    db: DatabaseDep,
    cache: RecentConversationsDep,
    registry: RegistryDep,
    tools: ToolsDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    metering: MeteringDep,
) -> AgentTurnResponse | Response:
    """Ask the agent: it answers, calling your tools (your documents, the analytics data,
    the calculator ...) as it needs, until it has an answer or reaches a cap.

    Each model call is reserved from your monthly budget and settled into the usage
    ledger. Tool calls and their results are stored as messages of the conversation and
    replay in later turns; each execution is recorded (`GET /tool-executions`). The
    answer (201), or the run as events (200, SSE), says why the run stopped:
    `answer`, `max_steps`, `max_tool_calls`, `timeout`, `token_budget`, `repeated_call`,
    `error` or `cancelled`. A failing tool is never an HTTP error: the model is told.
    """
    runner = await service.start_agent_turn(
        db=db,
        metering=metering,
        cache=cache,
        registry=registry,
        tools=tools,
        metrics=metrics,
        settings=settings,
        principal=principal,
        conversation_id=conversation_id,
        data=data,
        request_id=current_request_id(),
    )
    events = runner.events()
    if data.stream:
        # The first event comes after the model's first output: a provider failing
        # before it is an HTTP error with its real status, not a 200 that then fails.
        first = await anext(events)
        return EventStreamResponse(_encoded(first, events))
    async for _ in events:
        pass
    return runner.response()


async def _encoded(first: AgentEvent, events: AsyncIterator[AgentEvent]) -> AsyncIterator[bytes]:
    try:
        yield first.encode()
        async for event in events:
            yield event.encode()
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


@router.get(
    "/conversations/{conversation_id}/agent-runs",
    response_model=Page[AgentRunPublic],
    responses=error_responses(ConversationNotFound, InvalidCursor),
)
async def list_runs(
    conversation: OwnedConversation, page: PageParamsDep, session: SessionDep
) -> Page[AgentRunPublic]:
    """A conversation's agent runs, newest first."""
    return await service.list_runs(
        session=session,
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        limit=page.limit,
        cursor=page.cursor,
    )


@router.get(
    "/agent-runs/{run_id}",
    response_model=AgentRunDetail,
    responses=error_responses(AgentRunNotFound),
)
async def get_run(run_id: uuid.UUID, principal: PrincipalDep, session: SessionDep) -> AgentRun:
    """One of your runs, with every tool execution it made."""
    return await service.get_run(session=session, run_id=run_id, user_id=principal.user_id)


@router.get(
    "/tool-executions",
    response_model=Page[ToolExecutionPublic],
    responses=error_responses(InvalidCursor),
)
async def list_tool_executions(
    principal: PrincipalDep,
    page: PageParamsDep,
    session: SessionDep,
    tool: ToolName = None,
    status: StatusFilter = None,
) -> Page[ToolExecutionPublic]:
    """Your tool executions, newest first: tool, duration, status and error."""
    return await service.list_executions(
        session=session,
        user_id=principal.user_id,
        limit=page.limit,
        cursor=page.cursor,
        tool=tool,
        status=status.value if status else None,
    )


@admin_router.get(
    "/tool-executions",
    response_model=Page[ToolExecutionPublic],
    responses=error_responses(InvalidCursor),
)
async def admin_list_tool_executions(
    page: PageParamsDep,
    session: SessionDep,
    user_id: Annotated[uuid.UUID | None, Query(description="Only this user's")] = None,
    tool: ToolName = None,
    status: StatusFilter = None,
) -> Page[ToolExecutionPublic]:
    """Every user's tool executions, newest first."""
    return await service.list_all_executions(
        session=session,
        user_id=user_id,
        limit=page.limit,
        cursor=page.cursor,
        tool=tool,
        status=status.value if status else None,
    )


@admin_router.get(
    "/agent-runs/{run_id}",
    response_model=AgentRunDetail,
    responses=error_responses(AgentRunNotFound),
)
async def admin_get_run(run_id: uuid.UUID, session: SessionDep) -> AgentRun:
    """Any user's run, with its tool executions."""
    return await service.get_any_run(session=session, run_id=run_id)
