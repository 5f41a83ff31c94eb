"""The ``get_weather`` tool's HTTP client: current conditions from a configured service.

The service is whatever ``WEATHER_API_BASE_URL`` names (the tool does not exist when it
is unset). Its contract, kept small on purpose::

    GET {base}/current?location=<text>&units=metric|imperial
    Authorization: Bearer <WEATHER_API_KEY>      (only when a key is configured)
    200 {"location": ..., "temperature": ..., "conditions": ..., ...}  any JSON object
    404 the location is unknown

Only the configured base URL is ever called: the model chooses the location, never the
host, and redirects are not followed. Answers larger than ``MAX_RESPONSE_BYTES`` are
refused rather than read.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

import httpx

MAX_RESPONSE_BYTES: Final = 64 * 1024
Units = Literal["metric", "imperial"]


class WeatherError(Exception):
    """The service could not answer; the message is safe to show to the model."""


class WeatherClient:
    """One HTTP client for the app's lifetime (``aclose`` it at shutdown)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_seconds,
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def current(self, *, location: str, units: Units = "metric") -> dict[str, Any]:
        """The current weather at ``location``, as the service describes it."""
        try:
            async with self._http.stream(
                "GET", "/current", params={"location": location, "units": units}
            ) as response:
                if response.status_code == 404:
                    raise WeatherError(f"the weather service does not know {location!r}")
                if response.status_code != 200:
                    raise WeatherError(
                        f"the weather service answered with status {response.status_code}"
                    )
                body = await _read_capped(response)
        except httpx.TimeoutException as exc:
            raise WeatherError("the weather service did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise WeatherError("the weather service could not be reached") from exc
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise WeatherError("the weather service sent something that is not JSON") from exc
        if not isinstance(data, dict):
            raise WeatherError("the weather service sent an unexpected answer")
        return data


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise WeatherError("the weather service's answer is too large")
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > MAX_RESPONSE_BYTES:
            raise WeatherError("the weather service's answer is too large")
    return bytes(body)
