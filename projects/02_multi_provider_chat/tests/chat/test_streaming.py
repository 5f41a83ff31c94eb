"""Streaming chat over a real socket, from the shared contract: the three promises.

Project 02 keeps no usage ledger: the stored message is the whole record of a call, and the
contract checks it.
"""

from __future__ import annotations

from genai_shared.testing.contracts import streaming
from multi_provider_chat.chat.models import Message
from multi_provider_chat.main import create_app


class TestStreaming(streaming.StreamingContract):
    message_model = Message
    create_app = create_app
