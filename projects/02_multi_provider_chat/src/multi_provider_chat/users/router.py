"""The users API, as in project 01: the shared users domain (``genai_shared.users``) on
this project's own ``User`` table."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from genai_shared.users import service as shared_users_service
from genai_shared.users.exceptions import EmailAlreadyRegistered, UserNotFound
from genai_shared.users.schemas import UserCreate, UserPublic
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses
from multi_provider_chat.users import service
from multi_provider_chat.users.models import User

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(EmailAlreadyRegistered),
)
async def create_user(data: UserCreate, session: SessionDep) -> User:
    return await shared_users_service.create_user(session=session, model=User, data=data)


@router.get("/{user_id}", response_model=UserPublic, responses=error_responses(UserNotFound))
async def get_user(user_id: uuid.UUID, session: SessionDep) -> User:
    user = await service.get(session=session, user_id=user_id)
    if user is None:
        raise UserNotFound
    return user
