from __future__ import annotations

from genai_shared.web.errors import UnprocessableEntity


class TooManyMessages(UnprocessableEntity):
    message = "The request has more messages than this server allows"
