"""The user a path names, loaded once for the routes that need it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from chat_api_with_db.users import service
from chat_api_with_db.users.models import User
from genai_shared.users.exceptions import UserNotFound
from genai_shared.web.dependencies import SessionDep


async def valid_user_id(user_id: uuid.UUID, session: SessionDep) -> User:
    """Load the user named in the path or raise 404."""
    user = await service.get(session=session, user_id=user_id)
    if user is None:
        raise UserNotFound
    return user


ValidUser = Annotated[User, Depends(valid_user_id)]
