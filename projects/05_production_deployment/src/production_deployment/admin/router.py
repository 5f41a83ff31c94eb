"""Administration: every user, and usage across users. Guarded where routers are
assembled (``auth.dependencies.admin``): a signed-in user with role ``admin``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from genai_shared.schemas import CustomModel
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from production_deployment.auth.key_cache import ApiKeyCache
from production_deployment.core.money import from_micro
from production_deployment.usage import service as usage_service
from production_deployment.usage.dependencies import MeteringDep
from production_deployment.usage.redis_metering import RedisMetering
from production_deployment.usage.router import DaysParam
from production_deployment.usage.schemas import AdminUsageReport, BudgetStatus, UserUsageLine
from production_deployment.users import service as users_service
from production_deployment.users.exceptions import UserNotFound
from production_deployment.users.models import User
from production_deployment.users.schemas import AdminUserUpdate, UserPublic

router = APIRouter(prefix="/admin", tags=["admin"])


class AdminUserView(UserPublic):
    is_active: bool
    budget: BudgetStatus


class AdminUserList(CustomModel):
    items: list[AdminUserView]
    next_cursor: str | None


async def _view(session: SessionDep, user: User, metering: RedisMetering | None) -> AdminUserView:
    public = UserPublic.model_validate(user).model_dump()
    return AdminUserView(
        **public,
        is_active=user.is_active,
        budget=await usage_service.budget_status(session=session, user=user, metering=metering),
    )


@router.get("/users", response_model=AdminUserList)
async def list_users(
    session: SessionDep,
    metering: MeteringDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=320, description="next_cursor")] = None,
) -> AdminUserList:
    """Every user, by email, with this month's spend."""
    rows = await users_service.list_users(session=session, limit=limit, after_email=cursor)
    page, more = rows[:limit], len(rows) > limit
    return AdminUserList(
        items=[await _view(session, user, metering) for user in page],
        next_cursor=page[-1].email if more else None,
    )


@router.patch(
    "/users/{user_id}", response_model=AdminUserView, responses=error_responses(UserNotFound)
)
async def update_user(
    user_id: uuid.UUID,
    data: AdminUserUpdate,
    session: SessionDep,
    metering: MeteringDep,
    request: Request,
) -> AdminUserView:
    """Change a user's role, monthly budget or whether they may sign in."""
    user = await users_service.get(session=session, user_id=user_id)
    if user is None:
        raise UserNotFound
    await users_service.admin_update(session=session, user=user, data=data)
    cache: ApiKeyCache | None = getattr(request.app.state, "api_key_cache", None)
    if cache is not None:
        cache.evict_user(user.id)
    return await _view(session, user, metering)


@router.get("/usage", response_model=AdminUsageReport)
async def usage_report(session: SessionDep, days: DaysParam = 30) -> AdminUsageReport:
    """Calls, tokens and cost per user, day and model."""
    first_day = usage_service.since(days)
    rows = await usage_service.usage_by_day(session=session, since=first_day)
    return AdminUsageReport(
        since=first_day,
        total_cost_usd=from_micro(sum(row.cost_micro_usd for row in rows)),
        days=[
            UserUsageLine(
                user_id=row.user_id,
                day=row.day,
                provider=row.provider,
                model=row.model,
                calls=row.calls,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
                cost_usd=from_micro(row.cost_micro_usd),
            )
            for row in rows
        ],
    )
