from __future__ import annotations

from fastapi import APIRouter

from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from production_deployment.auth.dependencies import PrincipalDep
from production_deployment.users import service
from production_deployment.users.exceptions import UserNotFound
from production_deployment.users.models import User
from production_deployment.users.schemas import UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
async def get_me(principal: PrincipalDep) -> User:
    return principal.user


@router.patch("/me", response_model=UserPublic, responses=error_responses(UserNotFound))
async def update_me(data: UserUpdate, principal: PrincipalDep, session: SessionDep) -> User:
    """Change your display name. Role, budget and spend are not yours to set (422)."""
    user = await service.get(session=session, user_id=principal.user_id)
    if user is None:
        raise UserNotFound
    return await service.update_profile(session=session, user=user, data=data)
