"""How calls are metered in this app: in Redis (the hot path), or in the database."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from production_deployment.usage.redis_metering import RedisMetering


async def get_metering(request: Request) -> RedisMetering | None:
    """The app's Redis metering with ``METERING_BACKEND=redis``; None when budgets and the
    ledger live in the database (the lifespan sets ``app.state.metering``)."""
    metering: RedisMetering | None = request.app.state.metering
    return metering


MeteringDep = Annotated[RedisMetering | None, Depends(get_metering)]
