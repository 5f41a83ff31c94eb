from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from genai_shared.schemas import CustomModel, RequestModel

OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPair(CustomModel):
    """What signup, login and refresh return. The refresh token is shown only here."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class RefreshRequest(RequestModel):
    refresh_token: OpaqueToken
