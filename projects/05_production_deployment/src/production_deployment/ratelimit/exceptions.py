from __future__ import annotations

from genai_shared.web.errors import ServiceUnavailable, TooManyRequests


class RateLimitExceeded(TooManyRequests):
    message = "Too many requests: slow down and retry after the time in Retry-After"


class RateLimiterUnavailable(ServiceUnavailable):
    message = "Chat is paused: its rate limiter cannot be reached; retry shortly"
