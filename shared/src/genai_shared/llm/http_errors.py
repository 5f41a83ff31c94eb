"""Provider errors as HTTP errors: the status a client should see for each failure.

Shared by every project that calls a model: the chat API and the OpenAI-compatible gateway.

The client did nothing wrong when a provider is down or slow, so those are 502/504
(the gateway's upstream failed), a rate limit is passed on as 429 with its Retry-After,
and a request the provider refused is the client's 400 / 422.
"""

from __future__ import annotations

import math

from genai_shared.llm.errors import (
    AuthenticationFailed,
    ContentFiltered,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    RateLimited,
)
from genai_shared.web.errors import AppError, UnprocessableEntity


class ProviderRateLimited(AppError):
    status_code = 429
    message = "The model provider is rate limiting requests; retry later"


class ProviderDown(AppError):
    status_code = 502
    message = "The model provider failed to answer"


class ProviderTimedOut(AppError):
    status_code = 504
    message = "The model provider did not answer in time"


class ProviderMisconfigured(AppError):
    status_code = 502
    message = "The model provider rejected this server's credentials"


class ProviderRejectedRequest(AppError):
    status_code = 400
    message = "The model provider rejected the request"


class UnknownModel(AppError):
    status_code = 422
    message = "The model is not known or its provider is not configured"


class ContentBlocked(AppError):
    status_code = 422
    message = "The request was blocked by the provider's content filter"


def to_app_error(error: ProviderError) -> AppError:
    """The HTTP error for a provider failure; messages are ours, never the upstream body."""
    if isinstance(error, RateLimited):
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
        return ProviderRateLimited(headers=headers)
    if isinstance(error, ProviderTimeout):
        return ProviderTimedOut()
    if isinstance(error, AuthenticationFailed):
        return ProviderMisconfigured()
    if isinstance(error, ContentFiltered):
        return ContentBlocked()
    if isinstance(error, InvalidRequest):
        if error.provider == "registry":
            return UnknownModel(error.message)
        return ProviderRejectedRequest(error.message)
    return ProviderDown()


class MaxTokensTooLarge(UnprocessableEntity):
    message = "max_tokens is larger than this server allows"


def check_max_tokens(requested: int | None, *, cap: int) -> None:
    """Refuse (422) a token cap over the server's: the chat API and the gateway alike."""
    if requested is not None and requested > cap:
        raise MaxTokensTooLarge(details=[{"loc": ["body", "max_tokens"], "max": cap}])
