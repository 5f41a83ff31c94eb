"""The users API: anyone may create a user (there is no sign-in before project 03)."""

from __future__ import annotations

from fastapi import APIRouter, status

from chat_api_with_db.users import service
from chat_api_with_db.users.dependencies import ValidUser
from chat_api_with_db.users.models import User
from chat_api_with_db.users.schemas import UserCreate, UserPublic
from genai_shared.users.exceptions import EmailAlreadyRegistered, UserNotFound
from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_responses

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
