"""Conversations, messages and metered chat turns, over a project's own models. Never
commits: the request's session, or a turn's own short transactions, do.

The projects that charge for chat turns run them the same way; what stays in each is
what it owns: its models, its idempotency store, and its money, handed in as
``open_meter`` (reserve the turn's worst case, return what settles the call). A turn:

1. ``start_turn``: in one transaction, the user's message is stored, the history to send
   read, and ``open_meter`` reserves the worst-case cost (over budget: its error, and
   nothing is stored);
2. the model is asked (with fallbacks), whole or streamed; a stream first stores a
   ``streaming`` placeholder once its first event has arrived;
3. the reply is stored from the call's ``CallRecord`` and, in the same transaction, the
   meter settles the call and keeps the response an ``Idempotency-Key`` replays; a
   failed, broken or abandoned call is stored and settled too, as ``error`` or
   ``cancelled``.

The owner of a conversation always comes from the credential, never from a body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import anyio
from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from genai_shared.chat.cache import RecentConversationsCache
from genai_shared.chat.schemas import (
    ChatMessagePublic,
    ChatTurnRequest,
    ChatTurnResponse,
    ConversationCreate,
    ConversationPublic,
    ConversationUpdate,
    MessageCreate,
)
from genai_shared.chat.store import ConversationRow, ConversationStore
from genai_shared.chat.turns import ChatMessageRow, ChatTurns, reply_values
from genai_shared.db.pagination import Page
from genai_shared.db.session import Database
from genai_shared.llm.calls import CallRecord, Outcome
from genai_shared.llm.errors import ProviderError
from genai_shared.llm.fallback import FallbackChain, FallbackStream
from genai_shared.llm.http_errors import check_max_tokens, to_app_error
from genai_shared.llm.registry import ProviderRegistry
from genai_shared.llm.tokens import count_messages
from genai_shared.llm.turn_stream import done_payload, stream_turn
from genai_shared.llm.types import ChatMessage, ChatRequest, StreamEvent, Usage
from genai_shared.web.drain import Drain
from genai_shared.web.sse import EventStreamResponse, sse_event

logger = logging.getLogger(__name__)


class MessageRow(ChatMessageRow, Protocol):
    """What the service needs of a project's message model (its instances)."""

    conversation_id: uuid.UUID
    provider: str | None
    model: str | None
    cost_usd: Any


class StoredResponse(Protocol):
    """A response kept for an ``Idempotency-Key``: what a retry with it gets."""

    @property
    def status_code(self) -> int: ...

    @property
    def body(self) -> Any: ...


C = TypeVar("C", bound=ConversationRow)
M = TypeVar("M", bound=MessageRow)
P = TypeVar("P", bound=ChatMessagePublic)
S = TypeVar("S", bound=StoredResponse)
S_co = TypeVar("S_co", bound=StoredResponse, covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)
K = TypeVar("K")  # the project's idempotency claim
K_co = TypeVar("K_co", covariant=True)


class Guard(Protocol[S_co, K_co]):
    """What the project's idempotency guard found: a stored response to send again, or
    the claim this request runs under (both None without a key)."""

    @property
    def stored(self) -> S_co | None: ...

    @property
    def claim(self) -> K_co | None: ...


class GuardFactory(Protocol[S_co, K_co]):
    def __call__(
        self,
        *,
        db: Database,
        user_id: uuid.UUID,
        key: str | None,
        route: str,
        body: Any,
        ttl_seconds: int,
    ) -> AbstractAsyncContextManager[Guard[S_co, K_co]]: ...


@dataclass(frozen=True)
class Idempotency(Generic[S, K]):
    """The project's idempotency store: its guard, its response type, its replay mark."""

    guard: GuardFactory[S, K]
    stored_response: Callable[[int, Any], S]
    replayed_headers: Mapping[str, str]


class Meter(Protocol[S_contra]):
    """Settles one call's reservation (exactly once, whatever became of the call)."""

    async def settle(
        self,
        record: CallRecord,
        *,
        session: AsyncSession | None = None,
        message_id: uuid.UUID | None = None,
        response: S_contra | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Admission(Generic[K]):
    """What a project's ``open_meter`` reserves for: the call's chain, the history it
    sends and its ``max_tokens``, inside the transaction that stores the user's message."""

    session: AsyncSession
    chain: FallbackChain
    history: list[ChatMessage]
    max_tokens: int
    claim: K | None


class HistoryLoader(Protocol):
    """A project's own history (say, with tool calls), instead of the plain messages."""

    async def __call__(
        self, session: AsyncSession, *, conversation_id: uuid.UUID, limit: int
    ) -> list[ChatMessage]: ...


class TurnSettings(Protocol):
    @property
    def chat_history_messages(self) -> int: ...

    @property
    def chat_max_tokens_cap(self) -> int: ...

    @property
    def llm_default_max_tokens(self) -> int: ...

    @property
    def idempotency_ttl_seconds(self) -> int: ...


OpenMeter = Callable[[Admission[K]], Awaitable[Meter[S]]]


@dataclass
class Turn(Generic[M, S]):
    """One turn in flight: what its steps share."""

    turns: ChatTurns[Any, M]
    db: Database
    cache: RecentConversationsCache
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    user_message: M
    request: ChatRequest
    chain: FallbackChain
    meter: Meter[S]
    drain: Drain | None = None  # a stream still running at the drain deadline ends
    record: CallRecord = field(default_factory=CallRecord)

    async def save_placeholder(self) -> M:
        """The ``streaming`` row a stream's reply is written into when it ends."""
        async with self.db.transaction() as session:
            message = await self.turns.save_reply(
                session,
                conversation_id=self.conversation_id,
                message_id=None,
                values=reply_values(self.record, streaming=True),
            )
        await invalidate(self.cache, self.user_id)
        return message

    async def save_reply(
        self,
        *,
        message_id: uuid.UUID | None = None,
        response: Callable[[M], S] | None = None,
    ) -> M:
        """Store the reply as the record says it ended and settle the call, in one
        transaction; ``response(message)`` is what an ``Idempotency-Key`` keeps."""
        self.record.finish()
        async with self.db.transaction() as session:
            message = await self.turns.save_reply(
                session,
                conversation_id=self.conversation_id,
                message_id=message_id,
                values=reply_values(self.record),
            )
            kept = response(message) if response is not None else None
            await self.meter.settle(
                self.record, session=session, message_id=message.id, response=kept
            )
        await invalidate(self.cache, self.user_id)
        return message

    async def save_cancelled(self) -> None:
        """The turn was cancelled before any output (shutdown, or a bug): never leave the
        reservation behind."""
        self.record.outcome = Outcome.CANCELLED
        self.record.usage = Usage(input_tokens=count_messages(self.request.messages))
        self.record.usage_estimated = True
        with anyio.CancelScope(shield=True):
            await self.save_reply()


class ChatService(Generic[C, M, P, S, K]):
    """A chat API's conversations, messages and metered turns over a project's models.

    ``message_public`` is the project's message schema; ``not_found`` what a missing (or
    someone else's) conversation raises; ``load_history``, when given, reads the history
    a turn sends instead of the plain complete messages.
    """

    def __init__(
        self,
        conversation_model: type[C],
        message_model: type[M],
        *,
        message_public: type[P],
        not_found: type[Exception],
        idempotency: Idempotency[S, K],
        load_history: HistoryLoader | None = None,
    ) -> None:
        self.store = ConversationStore(conversation_model, message_model)
        self.turns: ChatTurns[C, M] = ChatTurns(conversation_model, message_model)
        self.message_public = message_public
        self._message_page: Any = Page[message_public]  # type: ignore[valid-type]
        self.not_found = not_found
        self.idempotency = idempotency
        self.load_history = load_history

    # --- conversations and messages ------------------------------------------------------

    async def create_conversation(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        owner_id: uuid.UUID,
        data: ConversationCreate,
    ) -> C:
        """Create a conversation owned by the caller (never by a user named in the body)."""
        return await self.store.create_conversation(
            session=session, cache=cache, user_id=owner_id, data=data
        )

    async def get_owned_conversation(
        self, *, session: AsyncSession, conversation_id: uuid.UUID, owner_id: uuid.UUID
    ) -> C | None:
        """The conversation if it is the owner's: another user's is as missing as a
        deleted one."""
        return await self.store.get_conversation(
            session=session, conversation_id=conversation_id, user_id=owner_id
        )

    async def list_conversations(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        user_id: uuid.UUID,
        limit: int,
        cursor: str | None,
    ) -> Page[ConversationPublic]:
        """A user's conversations, newest first (the first page from the cache)."""
        return await self.store.list_conversations(
            session=session, cache=cache, user_id=user_id, limit=limit, cursor=cursor
        )

    async def update_conversation(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        conversation: C,
        data: ConversationUpdate,
    ) -> C:
        return await self.store.update_conversation(
            session=session, cache=cache, conversation=conversation, data=data
        )

    async def delete_conversation(
        self, *, session: AsyncSession, cache: RecentConversationsCache, conversation: C
    ) -> None:
        await self.store.delete_conversation(
            session=session, cache=cache, conversation=conversation
        )

    async def add_message(
        self,
        *,
        session: AsyncSession,
        cache: RecentConversationsCache,
        conversation: C,
        data: MessageCreate,
    ) -> M:
        return await self.store.add_message(
            session=session, cache=cache, conversation=conversation, data=data
        )

    async def list_messages(
        self, *, session: AsyncSession, conversation_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[P]:
        """A conversation's messages, oldest first."""
        rows, next_cursor = await self.store.list_messages(
            session=session, conversation_id=conversation_id, limit=limit, cursor=cursor
        )
        page: Page[P] = self._message_page(
            items=[self.message_public.model_validate(row) for row in rows],
            next_cursor=next_cursor,
        )
        return page

    # --- a metered chat turn ---------------------------------------------------------------

    async def chat_turn(
        self,
        *,
        db: Database,
        cache: RecentConversationsCache,
        registry: ProviderRegistry,
        settings: TurnSettings,
        user_id: uuid.UUID,
        conversation_id: uuid.UUID,
        data: ChatTurnRequest,
        idempotency_key: str | None,
        open_meter: OpenMeter[K, S],
        drain: Drain | None = None,
        on_first_event: Callable[[CallRecord], None] | None = None,
    ) -> ChatTurnResponse | Response:
        """One metered chat turn, whole or streamed, at most once per ``Idempotency-Key``.

        ``on_first_event(record)``: called when a stream's first event has arrived (a
        time-to-first-token metric, say)."""
        check_max_tokens(data.max_tokens, cap=settings.chat_max_tokens_cap)
        async with self.idempotency.guard(
            db=db,
            user_id=user_id,
            key=idempotency_key,
            route=f"chat:{conversation_id}",
            body=data.model_dump(mode="json"),
            ttl_seconds=settings.idempotency_ttl_seconds,
        ) as guard:
            if guard.stored is not None:
                return self.replay(guard.stored, stream=data.stream)
            turn = await self.start_turn(
                db=db,
                cache=cache,
                registry=registry,
                user_id=user_id,
                conversation_id=conversation_id,
                data=data,
                history_limit=settings.chat_history_messages,
                default_max_tokens=min(
                    settings.llm_default_max_tokens, settings.chat_max_tokens_cap
                ),
                open_meter=open_meter,
                claim=guard.claim,
            )
            turn.drain = drain
            if data.stream:
                return EventStreamResponse(await self.open_stream(turn, on_first_event))
            return await self.complete_turn(turn)

    async def start_turn(
        self,
        *,
        db: Database,
        cache: RecentConversationsCache,
        registry: ProviderRegistry,
        user_id: uuid.UUID,
        conversation_id: uuid.UUID,
        data: ChatTurnRequest,
        history_limit: int,
        default_max_tokens: int,
        open_meter: OpenMeter[K, S],
        claim: K | None = None,
    ) -> Turn[M, S]:
        """Check the model, then, in one transaction, store the user's message, read the
        history to send and reserve the call's worst-case cost."""
        model = data.routed_model() or registry.default_model
        try:
            chain = registry.fallback_chain(model)  # an unknown model: 422, nothing stored
        except ProviderError as error:
            raise to_app_error(error) from error
        max_tokens = data.max_tokens or default_max_tokens
        async with db.transaction() as session:
            prompt = await self.turns.add_user_message(
                session,
                conversation_id=conversation_id,
                content=data.content,
                history_limit=history_limit,
                owner_id=user_id,
            )
            if prompt is None:
                raise self.not_found
            history = prompt.history
            if self.load_history is not None:
                history = await self.load_history(
                    session, conversation_id=conversation_id, limit=history_limit
                )
            meter = await open_meter(
                Admission(
                    session=session,
                    chain=chain,
                    history=history,
                    max_tokens=max_tokens,
                    claim=claim,
                )
            )
        await invalidate(cache, user_id)
        return Turn(
            turns=self.turns,
            db=db,
            cache=cache,
            conversation_id=conversation_id,
            user_id=user_id,
            user_message=prompt.message,
            request=ChatRequest(
                model=model,
                messages=history,
                max_tokens=max_tokens,
                temperature=data.temperature,
            ),
            chain=chain,
            meter=meter,
        )

    async def complete_turn(self, turn: Turn[M, S]) -> ChatTurnResponse:
        """Ask for the whole reply at once (with fallbacks), then store and settle it."""
        try:
            result = await turn.chain.complete(turn.request, turn.record)
        except ProviderError as error:
            turn.record.failed(error)
            await turn.save_reply()
            raise to_app_error(error) from error
        except BaseException:
            await turn.save_cancelled()
            raise
        turn.record.answered(result.response)

        def response(message: M) -> ChatTurnResponse:
            return ChatTurnResponse(
                user_message=ChatMessagePublic.model_validate(turn.user_message),
                assistant_message=ChatMessagePublic.model_validate(message),
            )

        stored_response = self.idempotency.stored_response
        message = await turn.save_reply(
            response=lambda m: stored_response(201, jsonable_encoder(response(m)))
        )
        return response(message)

    async def open_stream(
        self, turn: Turn[M, S], on_first_event: Callable[[CallRecord], None] | None = None
    ) -> AsyncIterator[bytes]:
        """Start the provider stream and wait for its first event *before* answering.

        A failure up to here becomes a normal HTTP error with its real status (429 with
        Retry-After, 502, 504), never a 200 stream that only then says it failed.
        """
        stream = turn.chain.stream(turn.request, turn.record)
        try:
            first = await anext(stream)
        except ProviderError as error:
            await stream.aclose()
            turn.record.failed(error)
            await turn.save_reply()
            raise to_app_error(error) from error
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            await turn.save_cancelled()
            raise
        if on_first_event is not None:
            on_first_event(turn.record)
        placeholder = await turn.save_placeholder()
        return self._relay(turn, stream, first, placeholder.id)

    def _relay(
        self, turn: Turn[M, S], stream: FallbackStream, first: StreamEvent, message_id: uuid.UUID
    ) -> AsyncIterator[bytes]:
        """Forward the stream as SSE (``start``, ``delta``..., ``done`` or ``error``);
        however it ends, store what arrived, settle the call and close the provider's
        stream."""
        start = {"user_message_id": str(turn.user_message.id), "message_id": str(message_id)}
        stored_response = self.idempotency.stored_response

        def kept(message: M) -> S:
            """What a retry with the same ``Idempotency-Key`` gets (see ``replay``)."""
            done = done_payload(message, turn.record)
            return stored_response(200, {"start": start, "text": turn.record.text, "done": done})

        async def on_end(record: CallRecord) -> M:
            return await turn.save_reply(message_id=message_id, response=kept)

        return stream_turn(
            stream,
            first,
            start=start,
            on_end=on_end,
            prompt=turn.request.messages,
            drain=turn.drain,
        )

    def replay(self, stored: StoredResponse, *, stream: bool) -> Response:
        """A finished turn sent again to a retry: the same JSON, or for a stream the same
        ``start`` and ``done`` events with the reply's text in one ``delta``. Nothing is
        stored and no model is asked."""
        headers = dict(self.idempotency.replayed_headers)
        if not stream:
            return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)
        return EventStreamResponse(replayed_events(stored.body), headers=headers)


async def replayed_events(stored: dict[str, Any]) -> AsyncIterator[bytes]:
    """A kept stream's events again: ``start``, its whole text as one ``delta``, ``done``."""
    yield sse_event(stored["start"], event="start")
    if stored["text"]:
        yield sse_event({"text": stored["text"]}, event="delta")
    yield sse_event(stored["done"], event="done")


async def invalidate(cache: RecentConversationsCache, user_id: uuid.UUID) -> None:
    """Forget the user's cached conversation list (a turn touches ``updated_at``). The
    turn is already committed: a cache that cannot be reached is logged, not raised."""
    try:
        await cache.invalidate(user_id)
    except Exception:
        logger.warning("could not invalidate the conversations cache", exc_info=True)
