"""The cache of a user's recent conversations, as a dependency routes and services take.

It is built once per app run, not per request: either in the app's lifespan with
``install_recent_conversations`` (where a project hands it an ``on_lookup`` hook), or
on first use, for an app that needs no hook.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from genai_shared.cache import Cache
from genai_shared.chat.cache import LookupHook, RecentConversationsCache, recent_conversations_cache
from genai_shared.settings import BaseAppSettings


def recent_conversations_for(
    cache: Cache, settings: BaseAppSettings, *, on_lookup: LookupHook | None = None
) -> RecentConversationsCache:
    """The app's cache of recent conversations, under its own namespace and TTL."""
    return recent_conversations_cache(
        cache,
        namespace=f"{settings.cache_namespace}conversations",
        ttl_seconds=settings.cache_ttl_seconds,
        on_lookup=on_lookup,
    )


def install_recent_conversations(
    app: FastAPI, settings: BaseAppSettings, *, on_lookup: LookupHook | None = None
) -> RecentConversationsCache:
    """Build the cache over ``app.state.cache`` (open it first) and publish it as
    ``app.state.recent_conversations``, the one every request gets."""
    recent = recent_conversations_for(app.state.cache, settings, on_lookup=on_lookup)
    app.state.recent_conversations = recent
    return recent


async def get_recent_conversations(request: Request) -> RecentConversationsCache:
    app = request.app
    recent: RecentConversationsCache | None = getattr(app.state, "recent_conversations", None)
    # Built over an earlier run's cache (the app was started again): build it anew.
    if recent is None or recent.cache is not app.state.cache:
        recent = install_recent_conversations(app, app.state.settings)
    return recent


RecentConversationsDep = Annotated[RecentConversationsCache, Depends(get_recent_conversations)]
