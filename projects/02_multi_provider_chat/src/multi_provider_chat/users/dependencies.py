from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from genai_shared.web.dependencies import SessionDep
from multi_provider_chat.users import service
from multi_provider_chat.users.exceptions import UserNotFound
from multi_provider_chat.users.models import User


async def valid_user_id(user_id: uuid.UUID, session: SessionDep) -> User:
    """Load the user named in the path or raise 404."""
    user = await service.get(session=session, user_id=user_id)
    if user is None:
        raise UserNotFound
    return user


ValidUser = Annotated[User, Depends(valid_user_id)]
