"""Signup, login, refresh and logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from genai_shared.web.dependencies import SessionDep
from genai_shared.web.errors import error_response, error_responses
from production_deployment.auth import service
from production_deployment.auth.dependencies import PrincipalDep, SecurityDep
from production_deployment.auth.exceptions import InvalidLogin, InvalidRefreshToken
from production_deployment.auth.schemas import RefreshRequest, TokenPair
from production_deployment.core.config import Settings, SettingsDep
from production_deployment.users import service as users_service
from production_deployment.users.exceptions import EmailAlreadyRegistered
from production_deployment.users.models import User
from production_deployment.users.schemas import UserCreate, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])
session_router = APIRouter(prefix="/auth", tags=["auth"])


def _refresh_ttl(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.refresh_token_ttl_seconds)


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=error_responses(EmailAlreadyRegistered),
)
async def signup(
    data: UserCreate, settings: SettingsDep, session: SessionDep, security: SecurityDep
) -> User:
    """Create an account (role `user`, the default monthly budget). Then log in."""
    return await users_service.create(
        session=session,
        data=data,
        password_hash=await security.hash_password(data.password),
        budget_usd=settings.default_monthly_budget_usd,
    )


@router.post("/login", response_model=TokenPair, responses=error_responses(InvalidLogin))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    session: SessionDep,
    security: SecurityDep,
) -> TokenPair:
    """OAuth2 password flow (form fields `username` = email, `password`)."""
    user = await service.authenticate(
        session=session, security=security, email=form.username, password=form.password
    )
    return await service.issue_tokens(
        session=session, security=security, user=user, refresh_ttl=_refresh_ttl(settings)
    )


@router.post("/refresh", response_model=TokenPair, responses=error_responses(InvalidRefreshToken))
async def refresh(
    data: RefreshRequest, settings: SettingsDep, session: SessionDep, security: SecurityDep
) -> TokenPair | JSONResponse:
    """Swap a refresh token for a new pair. Each refresh token works once: using one
    again revokes every token of its login session."""
    pair = await service.rotate(
        session=session,
        security=security,
        refresh_token=data.refresh_token,
        refresh_ttl=_refresh_ttl(settings),
    )
    if pair is None:
        # Returned, not raised: the family's revocation must be committed.
        error = InvalidRefreshToken()
        return error_response(401, error.error_type, error.message, headers=error.headers)
    return pair


@session_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(principal: PrincipalDep, session: SessionDep) -> Response:
    """End this login session: its refresh tokens and access tokens stop working."""
    assert principal.session_id is not None  # guarded by auth.dependencies.signed_in
    await service.revoke_family(session=session, family_id=principal.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
