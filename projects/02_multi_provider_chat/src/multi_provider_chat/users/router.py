from __future__ import annotations

from fastapi import APIRouter, status

from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from multi_provider_chat.users import service
from multi_provider_chat.users.dependencies import ValidUser
from multi_provider_chat.users.exceptions import EmailAlreadyRegistered, UserNotFound
from multi_provider_chat.users.models import User
from multi_provider_chat.users.schemas import UserCreate, UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(EmailAlreadyRegistered),
)
async def create_user(data: UserCreate, session: SessionDep) -> User:
    return await service.create(session=session, data=data)


@router.get("/{user_id}", response_model=UserPublic, responses=error_responses(UserNotFound))
async def get_user(user: ValidUser) -> User:
    return user
