"""A stored history made replayable: a tool exchange is kept only whole."""

from __future__ import annotations

from genai_shared.agent.history import replayable
from genai_shared.llm.types import ChatMessage, ToolCall


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def asks(*ids: str, text: str = "") -> ChatMessage:
    calls = [ToolCall(id=i, name="calculator", arguments="{}") for i in ids]
    return ChatMessage(role="assistant", content=text, tool_calls=calls)


def result(call_id: str) -> ChatMessage:
    return ChatMessage(role="tool", content="{}", tool_call_id=call_id)


def answer(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


class TestReplayable:
    def test_a_whole_history_is_kept_as_it_is(self) -> None:
        history = [user("q"), asks("a", "b"), result("a"), result("b"), answer("x"), user("q2")]
        assert replayable(history) == history

    def test_results_are_put_in_the_order_of_the_calls(self) -> None:
        history = [user("q"), asks("a", "b"), result("b"), result("a"), answer("x")]
        assert replayable(history) == [
            user("q"),
            asks("a", "b"),
            result("a"),
            result("b"),
            answer("x"),
        ]

    def test_results_cut_from_their_call_are_dropped(self) -> None:
        """The window starts inside a tool exchange: its results have no call."""
        history = [result("a"), result("b"), answer("x"), user("q2")]
        assert replayable(history) == [user("q2")]

    def test_a_call_left_without_all_its_results_keeps_only_its_text(self) -> None:
        history = [user("q"), asks("a", "b", text="Checking."), result("a"), user("q2")]
        assert replayable(history) == [user("q"), answer("Checking."), user("q2")]

    def test_empty_assistant_messages_and_a_leading_answer_are_dropped(self) -> None:
        system = ChatMessage(role="system", content="be brief")
        history = [system, answer("from before"), user("q"), answer(""), user("q2")]
        assert replayable(history) == [system, user("q"), user("q2")]
