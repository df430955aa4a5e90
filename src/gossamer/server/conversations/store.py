"""Durable conversations: two tables in the Responses store's SQLite file, through its connection.

A conversation is an id, its tenant (the API key's digest, "" without keys), its metadata and an
ordered list of items in the canonical shape of `responses/items.py`. Items are copies: a turn's
input and output items are appended once the response ends, and deleting a conversation deletes
only its copies (the responses that produced them keep their own).

Every statement is scoped by tenant, so another key's conversation reads as missing. Search (the
listing extension for the web page) is a case-insensitive substring match on the title
(`metadata["title"]`) and on the text of the items: a local server holds thousands of items, not
millions, and a substring ("wea" finds "weather") is what a sidebar filter is expected to do.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gossamer.server.responses.store import ResponseStore

Item = dict[str, Any]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS conversations (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        metadata TEXT NOT NULL,
        search_title TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS conversations_by_tenant ON conversations(tenant, updated_at)",
    """CREATE TABLE IF NOT EXISTS conversation_items (
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        body TEXT NOT NULL,
        search_text TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (conversation_id, position)
    )""",
    "CREATE INDEX IF NOT EXISTS conversation_items_by_item_id ON conversation_items(item_id)",
)

# Appends only to a conversation that exists and is the tenant's: one deleted mid-turn takes nothing.
_APPEND_SQL = """
INSERT INTO conversation_items (conversation_id, position, item_id, body, search_text)
SELECT c.id, (SELECT COALESCE(MAX(position), -1) + 1 FROM conversation_items WHERE conversation_id = c.id),
       ?, ?, ?
FROM conversations c WHERE c.id = ? AND c.tenant = ?
"""
_OWNED = "conversation_id = ? AND conversation_id IN (SELECT id FROM conversations WHERE tenant = ?)"


@dataclass
class ConversationRow:
    id: str
    created_at: int
    updated_at: float
    metadata: dict[str, str]


class UnknownCursor(KeyError):
    """A list's `after` names an item that is not in the conversation."""


class ConversationStore:
    def __init__(self, db: ResponseStore) -> None:
        self.db = db
        db.write([(sql, ()) for sql in _SCHEMA])

    # -- conversations --------------------------------------------------------------------------

    def create(self, conversation_id: str, tenant: str, metadata: dict[str, str], items: list[Item]) -> None:
        now = time.time()
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO conversations (id, tenant, created_at, updated_at, metadata, search_title) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, tenant, int(now), now, _dumps(metadata), _title(metadata)),
            )
        ]
        statements += _append_statements(conversation_id, tenant, items)
        self.db.write(statements)

    def get(self, conversation_id: str, tenant: str) -> ConversationRow | None:
        rows = self.db.read(
            "SELECT id, created_at, updated_at, metadata FROM conversations WHERE id = ? AND tenant = ?",
            (conversation_id, tenant),
        )
        return _row(rows[0]) if rows else None

    def update(self, conversation_id: str, tenant: str, metadata: dict[str, str]) -> ConversationRow | None:
        self.db.write(
            [
                (
                    "UPDATE conversations SET metadata = ?, search_title = ?, updated_at = ? "
                    "WHERE id = ? AND tenant = ?",
                    (_dumps(metadata), _title(metadata), time.time(), conversation_id, tenant),
                )
            ]
        )
        return self.get(conversation_id, tenant)

    def delete(self, conversation_id: str, tenant: str) -> bool:
        if self.get(conversation_id, tenant) is None:
            return False
        self.db.write([("DELETE FROM conversations WHERE id = ? AND tenant = ?", (conversation_id, tenant))])
        return True

    def list(
        self, tenant: str, *, limit: int, after: str | None = None, search: str | None = None
    ) -> tuple[list[ConversationRow], bool]:
        """The tenant's conversations, most recently active first, and whether more follow."""
        where, args = ["tenant = ?"], [tenant]
        if search:
            pattern = "%" + _escape_like(search.casefold()) + "%"
            where.append(
                "(search_title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM conversation_items i "
                "WHERE i.conversation_id = conversations.id AND i.search_text LIKE ? ESCAPE '\\'))"
            )
            args += [pattern, pattern]
        if after is not None:
            cursor = self.get(after, tenant)
            if cursor is None:
                raise UnknownCursor(after)
            where.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
            args += [cursor.updated_at, cursor.updated_at, cursor.id]
        rows = self.db.read(
            f"SELECT id, created_at, updated_at, metadata FROM conversations WHERE {' AND '.join(where)} "
            "ORDER BY updated_at DESC, id DESC LIMIT ?",
            (*args, limit + 1),
        )
        return [_row(row) for row in rows[:limit]], len(rows) > limit

    # -- items ----------------------------------------------------------------------------------

    def append(self, conversation_id: str, tenant: str, items: list[Item]) -> None:
        """Add items at the end (nothing when the conversation is gone), in one transaction."""
        self.db.write(_append_statements(conversation_id, tenant, items))

    def items(self, conversation_id: str, tenant: str) -> list[Item]:
        """Every item, oldest first: the context of the conversation's next response."""
        rows = self.db.read(
            f"SELECT body FROM conversation_items WHERE {_OWNED} ORDER BY position", (conversation_id, tenant)
        )
        return [json.loads(body) for (body,) in rows]

    def page(
        self, conversation_id: str, tenant: str, *, limit: int, order: str, after: str | None
    ) -> tuple[list[Item], bool]:
        """A page of items in `order` after the item `after`, and whether more follow."""
        where, args = _OWNED, [conversation_id, tenant]
        if after is not None:
            position = self._position(conversation_id, tenant, after)
            if position is None:
                raise UnknownCursor(after)
            where += " AND position > ?" if order == "asc" else " AND position < ?"
            args.append(position)
        direction = "ASC" if order == "asc" else "DESC"
        rows = self.db.read(
            f"SELECT body FROM conversation_items WHERE {where} ORDER BY position {direction} LIMIT ?",
            (*args, limit + 1),
        )
        return [json.loads(body) for (body,) in rows[:limit]], len(rows) > limit

    def get_item(self, conversation_id: str, tenant: str, item_id: str) -> Item | None:
        found = self._find(conversation_id, tenant, item_id)
        return json.loads(found[1]) if found is not None else None

    def find_item(self, item_id: str, tenant: str) -> Item | None:
        """An item of any of the tenant's conversations (for `item_reference` inputs)."""
        rows = self.db.read(
            "SELECT i.body FROM conversation_items i JOIN conversations c ON c.id = i.conversation_id "
            "WHERE i.item_id = ? AND c.tenant = ? LIMIT 1",
            (item_id, tenant),
        )
        return json.loads(rows[0][0]) if rows else None

    def delete_item(self, conversation_id: str, tenant: str, item_id: str) -> bool:
        if self.get_item(conversation_id, tenant, item_id) is None:
            return False
        self.db.write(
            [
                (
                    f"DELETE FROM conversation_items WHERE {_OWNED} AND item_id = ?",
                    (conversation_id, tenant, item_id),
                ),
                ("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), conversation_id)),
            ]
        )
        return True

    def _position(self, conversation_id: str, tenant: str, item_id: str) -> int | None:
        found = self._find(conversation_id, tenant, item_id)
        return found[0] if found is not None else None

    def _find(self, conversation_id: str, tenant: str, item_id: str) -> tuple[int, str] | None:
        """The position and body of an item (the first, should a client have added one id twice)."""
        rows = self.db.read(
            f"SELECT position, body FROM conversation_items WHERE {_OWNED} AND item_id = ? "
            "ORDER BY position LIMIT 1",
            (conversation_id, tenant, item_id),
        )
        return rows[0] if rows else None


def _append_statements(
    conversation_id: str, tenant: str, items: list[Item]
) -> list[tuple[str, tuple[Any, ...]]]:
    statements: list[tuple[str, tuple[Any, ...]]] = [
        (_APPEND_SQL, (item["id"], _dumps(item), search_text(item), conversation_id, tenant))
        for item in items
    ]
    statements.append(
        (
            "UPDATE conversations SET updated_at = ? WHERE id = ? AND tenant = ?",
            (time.time(), conversation_id, tenant),
        )
    )
    return statements


def search_text(item: Item) -> str:
    """What search matches in an item: its message text, a call's name and arguments, a tool's output."""
    parts: list[str] = []
    if item.get("type") == "message":
        parts += [part.get("text") or part.get("refusal") or "" for part in item.get("content") or []]
    elif item.get("type") == "function_call":
        parts += [item.get("name", ""), item.get("arguments", "")]
    elif item.get("type") == "function_call_output":
        parts.append(str(item.get("output", "")))
    return "\n".join(parts).casefold()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _title(metadata: dict[str, str]) -> str:
    return metadata.get("title", "").casefold()


def _dumps(value: Any) -> str:
    return json.dumps(value)


def _row(row: tuple[Any, ...]) -> ConversationRow:
    conversation_id, created_at, updated_at, metadata = row
    return ConversationRow(conversation_id, created_at, updated_at, json.loads(metadata))
