from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from genai_shared.web.dependencies import SessionDep
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.core.money import from_micro
from production_deployment.usage import service
from production_deployment.usage.dependencies import MeteringDep
from production_deployment.usage.schemas import UsageLine, UsageReport

router = APIRouter(prefix="/usage", tags=["usage"])

DaysParam = Annotated[int, Query(ge=1, le=366, description="How many days back, today included")]


@router.get("", response_model=UsageReport)
async def my_usage(
    principal: PrincipalDep, session: SessionDep, metering: MeteringDep, days: DaysParam = 30
) -> UsageReport:
    """Your provider calls by day and model, and where your monthly budget stands."""
    rows = await service.usage_by_day(
        session=session, since=service.since(days), user_id=principal.user_id
    )
    return UsageReport(
        budget=await service.budget_status(session=session, user=principal.user, metering=metering),
        days=[
            UsageLine(
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
