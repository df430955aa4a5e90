"""Grammar compilation with a cache keyed by content.

llguidance builds a matcher's parser lazily (the lexer states a schema needs are made as tokens
arrive), so "compiling" here is validating the grammar and constructing one template matcher;
each sequence then gets `deep_copy()` of it. Requests that repeat a schema (an agent's tools on
every turn, one response format for a whole batch) pay for it once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

import llguidance

from gossamer.grammar.tokenizer import ll_tokenizer

logger = logging.getLogger(__name__)

MAX_CACHED_GRAMMARS = 256


class GrammarCompileError(ValueError):
    """llguidance refused the grammar; the message is its own."""


class GrammarCache:
    def __init__(self, max_entries: int = MAX_CACHED_GRAMMARS) -> None:
        self.max_entries = max_entries
        self._templates: OrderedDict[str, llguidance.LLMatcher] = OrderedDict()
        self._errors: OrderedDict[str, str] = OrderedDict()  # refused grammars are remembered too
        self._lock = threading.Lock()
        self.num_hits = 0
        self.num_misses = 0

    def matcher(self, grammar: str) -> llguidance.LLMatcher:
        """A fresh matcher for `grammar` (an llguidance grammar string); GrammarCompileError if invalid."""
        key = hashlib.sha256(grammar.encode()).hexdigest()
        with self._lock:
            template = self._templates.get(key)
            error = self._errors.get(key)
            if template is not None:
                self._templates.move_to_end(key)
                self.num_hits += 1
                return template.deep_copy()
        if error is not None:
            raise GrammarCompileError(error)
        self.num_misses += 1
        template = self._compile(grammar)  # outside the lock: llguidance drops the GIL while it builds
        with self._lock:
            self._templates[key] = template
            if len(self._templates) > self.max_entries:
                self._templates.popitem(last=False)
        return template.deep_copy()

    def check(self, grammar: str) -> None:
        """Raise GrammarCompileError unless `grammar` compiles (and keep it for later)."""
        self.matcher(grammar)

    def _compile(self, grammar: str) -> llguidance.LLMatcher:
        tokenizer = ll_tokenizer()
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, tokenizer)
        if is_error:
            message = messages[0] if messages else "the grammar does not compile"
            key = hashlib.sha256(grammar.encode()).hexdigest()
            with self._lock:
                self._errors[key] = message
                if len(self._errors) > self.max_entries:
                    self._errors.popitem(last=False)
            raise GrammarCompileError(message)
        for warning in messages:
            logger.debug("grammar warning: %s", warning)
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise GrammarCompileError(matcher.get_error())
        return matcher

    def clear(self) -> None:
        with self._lock:
            self._templates.clear()
            self._errors.clear()


_shared = GrammarCache()


def grammar_cache() -> GrammarCache:
    """The process's cache (the engine and every front-end share it)."""
    return _shared
