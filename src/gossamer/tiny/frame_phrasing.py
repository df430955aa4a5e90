"""Level 9's phrasings: sentence frames that several intents share, and more shapes of the turns
the level-7 model (committed before this one) still misread on held-out phrasings.

Written after reading that model's held-out failures (docs/gossamer-tiny.md): an out-of-scope request
read as the intent whose frame it borrows ("Make me ..." as the joke, "... in CITY" as a weather or
time request the tools cannot serve, "How do I ..." as "How are you?"), an introduction that opens
with a pleasantry read as a goodbye, a second request after an unseen joiner dropped once the
reasoning that planned it is gone, and a follow-up that opens with an unseen polite word read as
small talk. So:

- out-of-scope requests in frames that tool requests and small talk also use, around a thing no
  tool serves (a noun, or a nonce word that reads as a word the model does not know);
- introductions that open with a pleasantry;
- joiners that are filler words ("Now", "Okay,", "Anyway,"), so that what stands between two
  requests does not decide whether the second is asked;
- follow-ups that open with a polite modal ("Would you ...", "Can you ...").

None of these is a held-out template, and no frame is a held-out template with one word swapped
(tests/tiny/test_frames.py checks both), so the held-out figures stay a measure of phrasings the
model never saw; but they were chosen knowing which intents the failures confused.
"""

from __future__ import annotations

import random

from gossamer.tiny import nonce

# Out-of-scope frames: {x} is a thing (OOS_THINGS or a nonce word), {city} a city.
OUT_OF_SCOPE_FRAMES = (
    "Get me some {x}.",
    "Bring me the {x}.",
    "Buy me a {x}, please.",
    "Cook me a {x}.",
    "Fetch my {x}.",
    "Build me a {x}.",
    "Write me a {x}.",
    "Order me a {x}.",
    "Sing a {x} for me.",
    "I need a {x} for tonight.",
    "Can I have a {x}?",
    "Show me a {x} in {city}.",
    "Is there a good {x} in {city}?",
    "Where can I buy a {x} in {city}?",
    "Any {x} near {city}?",
    "What's the {x} in {city}?",
    "What is the {x} like in {city}?",
    "How big is the {x} in {city}?",
    "Tell me the {x} of {city}.",
    "How can I get a {x}?",
    "How do I use a {x}?",
    "Where do I find a {x}?",
    "Teach me about {x}.",
    "Explain the {x} to me.",
)
OUT_OF_SCOPE_THINGS = (
    "bicycle", "cake", "guitar", "sofa", "laptop", "ticket", "umbrella", "pizza", "hotel", "taxi",
    "museum", "park", "library", "bakery", "cinema", "pharmacy", "gym", "bank", "lamp", "chair",
    "car", "phone", "novel", "painting", "salad", "soup", "blanket", "jacket", "camera", "kite",
)  # fmt: skip
NONCE_THING = 0.5  # share of frames filled with a nonce word rather than a noun

# Introductions that open with a pleasantry ({name}).
INTRO = (
    "Good to see you, I'm {name}.",
    "Glad to talk to you. I am {name}.",
    "Great to chat with you, my name is {name}.",
    "Lovely to be here, I'm {name}.",
    "Happy to talk to you! I'm {name}.",
    "Greetings, I am {name}.",
    "Howdy, {name} here.",
    "Good to talk to you, this is {name}.",
    "Hello to you, I'm {name}.",
    "Pleased to chat, I'm {name}.",
)

# Filler words between two requests.
FILLERS = (
    "Now", "So", "Okay,", "Well,", "Oh,", "Good.", "Thanks.", "One more thing:", "Anyway,",
    "Meanwhile,", "Right,", "Great.", "Hmm,", "Wait,", "Actually,", "Ok.", "Next one:", "Another:",
    "And now", "Now also",
)  # fmt: skip
JOINERS = tuple(f"{{a}} {w} {{b}}" for w in FILLERS)
FILLER_JOINER = 0.3  # at level 9, the share of two-request messages (not nonce-joined) joined so

# Polite openings put before a follow-up that starts with one of IMPERATIVES ("Try Oslo.").
MODALS = ("Would you", "Can you", "Will you", "Please,", "Maybe", "Kindly")
IMPERATIVES = frozenset(
    {"check", "tell", "try", "convert", "do", "show", "change", "get", "give", "repeat", "calculate",
     "compute", "look", "find", "track", "exchange", "work", "help", "say"}
)  # fmt: skip


def out_of_scope(rng: random.Random, city: str) -> str:
    """One out-of-scope request in a shared frame."""
    thing = rng.choice(nonce.NONCE_WORDS) if rng.random() < NONCE_THING else rng.choice(OUT_OF_SCOPE_THINGS)
    return rng.choice(OUT_OF_SCOPE_FRAMES).format(x=thing, city=city)


def polite(text: str, rng: random.Random) -> str:
    """`text` opened with a polite modal ("Try Oslo." -> "Would you try Oslo?") when it starts
    with an imperative; any other text as it is."""
    if text.split(maxsplit=1)[0].lower() not in IMPERATIVES:
        return text
    modal = rng.choice(MODALS)
    if modal.endswith("you") and text.endswith("."):
        text = text[:-1] + "?"
    return f"{modal} {text[:1].lower()}{text[1:]}"
