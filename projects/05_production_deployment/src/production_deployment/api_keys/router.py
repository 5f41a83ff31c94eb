from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from production_deployment.api_keys import service
from production_deployment.api_keys.exceptions import ApiKeyNotFound
from production_deployment.api_keys.models import ApiKey
from production_deployment.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from production_deployment.auth.dependencies import PrincipalDep, SecurityDep
from production_deployment.auth.key_cache import ApiKeyCache

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(
    data: ApiKeyCreate, principal: PrincipalDep, session: SessionDep, security: SecurityDep
) -> ApiKeyCreated:
    """Create a key. The response is the only time the key is shown."""
    row, generated = await service.create(
        session=session, security=security, user_id=principal.user_id, data=data
    )
    return ApiKeyCreated.model_validate(
        {**ApiKeyPublic.model_validate(row).model_dump(), "key": generated.key}
    )


@router.get("", response_model=list[ApiKeyPublic])
async def list_api_keys(principal: PrincipalDep, session: SessionDep) -> list[ApiKey]:
    return await service.list_for_user(session=session, user_id=principal.user_id)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(ApiKeyNotFound),
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: PrincipalDep, session: SessionDep, request: Request
) -> Response:
    """Revoke one of your keys; it stops working at once here, within a second on every
    other worker."""
    key = await service.get_owned(session=session, user_id=principal.user_id, key_id=key_id)
    if key is None:
        raise ApiKeyNotFound
    await service.revoke(session=session, key=key)
    cache: ApiKeyCache | None = getattr(request.app.state, "api_key_cache", None)
    if cache is not None:
        cache.evict_key(key.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
