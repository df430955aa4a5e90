"""Words the model reads as "a word I do not know", to learn that such words rarely decide a turn.

Users type words no training conversation holds ("Teach me to swim.", "Ken speaking, hello!",
"Open my email. Then check order A1234."). Each such token reaches the model as the one shared
"unknown word" embedding row (or its word class's row), and a model that has seen that row only
where token dropout put it (3% of prompt tokens, anywhere) treats an unknown word in a sentence's
frame as a new kind of sentence: the introduction with an unknown name turned into a refusal, the
second request after an unknown joiner was dropped.

At `--augment 6` a share of training user messages have a word or two replaced by, or given, a
nonce word from this list; training leaves every nonce token out of the vocabulary
(`gossamer.tiny.train`), so it reads through the unknown row exactly as an unseen word does after
export. Words that name the request (`phrasing.KEYWORDS`) and values the assistant copies are
never replaced. The words are arbitrary nouns that no template holds (tested); which one is drawn
does not matter, as all of them read as the same row. Each is one token in every form it is
written in (inside a sentence or at its start, capitalised or not), so no piece of one is a token
that other text uses.
"""

from __future__ import annotations

import random

from openai_harmony import HarmonyEncoding

NONCE_WORDS = (
    "anchor", "basket", "bucket", "mirror", "rocket", "silver", "button", "helmet", "planet",
    "rabbit", "wallet", "apple", "castle", "engine", "forest", "garden", "hammer", "orange", "river",
    "shadow", "signal", "spring", "winter", "tower", "window", "wizard", "yellow", "purple", "lion",
    "wolf", "bear", "circle", "square", "triangle", "diamond", "paper", "metal", "plastic", "stone",
    "wood", "brick", "cookie", "berry", "corn",
)  # fmt: skip
NONCE_SHARE = 0.35  # share of training user messages given nonce words at `--augment 6`
NONCE_JOINER = 0.35  # at `--augment 7`, the share of joined requests joined by a nonce word
NONCE_OUT_OF_SCOPE = 0.6  # at `--augment 7`, the share of out-of-scope requests given nonce words
SUBSTITUTE = 0.6  # chance that a nonce word replaces a word rather than joining the message
_PUNCT = "?.!,:;"


def nonce_ids(enc: HarmonyEncoding) -> set[int]:
    """Every token id a nonce word is written with (inside a sentence, at its start, capitalised)."""
    ids: set[int] = set()
    for word in NONCE_WORDS:
        for form in (word, word.capitalize()):
            for text in (form, " " + form):
                ids.update(enc.encode(text, allowed_special=set()))
    return ids


def with_nonce(text: str, keep: set[str], rng: random.Random, count: int | None = None) -> str:
    """`text` with `count` (default 1 or 2) nonce words, each replacing a word not in `keep` (lower
    case; words with digits are kept too) or put between two words. A message of one word only
    gains one."""
    words = text.split()
    for _ in range(count or rng.choice((1, 1, 2))):
        nonce = rng.choice(NONCE_WORDS)

        def free(word: str) -> bool:
            bare = word.strip(_PUNCT)
            return bool(bare) and bare.lower() not in keep and not any(c.isdigit() for c in word)

        spots = [i for i, w in enumerate(words) if free(w)]
        if len(words) > 1 and spots and rng.random() < SUBSTITUTE:
            i = rng.choice(spots)
            word = words[i]
            core = word.strip(_PUNCT)
            form = nonce.capitalize() if core[:1].isupper() else nonce
            words[i] = word.replace(core, form, 1)
        else:
            i = rng.randint(0, len(words))
            words.insert(i, nonce.capitalize() if i == 0 else nonce)
    return " ".join(words)


def nonce_added(text: str, rng: random.Random) -> str:
    """`text` with one nonce word put in, no word replaced: for messages whose every word may
    matter (small talk, "say that again")."""
    return with_nonce(text, {w.strip(_PUNCT).lower() for w in text.split()}, rng, count=1)
