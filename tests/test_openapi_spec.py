"""The trimmed OpenAPI description in tests/spec is whole: its roots present, every reference resolvable."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.spec_validation import SPEC_PATH, validate

REPO = Path(__file__).resolve().parents[1]


def load_trim_script():
    spec = importlib.util.spec_from_file_location("trim_openapi", REPO / "scripts" / "trim_openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_trimmed_spec_holds_its_roots_and_everything_they_reference():
    trim = load_trim_script()
    spec = json.loads(SPEC_PATH.read_text())
    schemas = spec["components"]["schemas"]
    assert set(trim.ROOTS) <= set(schemas)
    assert spec["x-trimmed"]["roots"] == list(trim.ROOTS)
    # Closed under references: trimming the trimmed file keeps it whole.
    assert trim.trim(spec) == schemas
    assert "f85dbe2" in spec["info"]["description"]


def test_trim_keeps_transitive_references_only():
    trim = load_trim_script()
    ref = "#/components/schemas/"
    spec = {"components": {"schemas": {
        "A": {"properties": {"b": {"$ref": ref + "B"}}},
        "B": {"anyOf": [{"$ref": ref + "C"}, {"type": "null"}]},
        "C": {"type": "string"},
        "Unused": {"$ref": ref + "C"},
    }}}
    assert list(trim.trim(spec, ("A",))) == ["A", "B", "C"]
    with pytest.raises(KeyError, match="Missing"):
        trim.trim(spec, ("A", "Missing"))


def test_conversations_schemas_validate():
    conversation = {"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {}}
    validate(conversation, "ConversationResource")
    deleted = {"id": "conv_1", "object": "conversation.deleted", "deleted": True}
    validate(deleted, "DeletedConversationResource")
    item = {"type": "message", "id": "msg_1", "status": "completed", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]}
    validate(item, "ConversationItem")
    validate({"object": "list", "data": [item], "first_id": "msg_1", "last_id": "msg_1", "has_more": False},
             "ConversationItemList")
