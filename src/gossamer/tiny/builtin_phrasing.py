"""What the built-in tools are asked, and the documents the browser finds (docs/builtin-tools.md).

The browser's index holds one page of facts per city ("# Facts about Oslo", one fact per
paragraph); each conversation's pages get fresh numbers, so an answer has to be read from the
page, never remembered. Questions ask for one fact; python is asked for arithmetic a small model
gets wrong and for small list tasks. Training and held-out templates are split as in phrasing.py.
"""

from __future__ import annotations

# fact -> (sentence on the page, the word `find` looks for, (training, held-out) questions).
FACTS: dict[str, tuple[str, str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "population": (
        "{city} has about {n} people.",
        "people",
        (
            (
                "How many people live in {city}?",
                "What is the population of {city}?",
                "population of {city}",
                "How many people does {city} have?",
                "{city} population?",
            ),
            ("Tell me how many people {city} has.", "What's the population of {city} these days?"),
        ),
    ),
    "founded": (
        "{city} was founded in {n}.",
        "founded",
        (
            (
                "When was {city} founded?",
                "What year was {city} founded?",
                "{city} founding year?",
                "when was {city} founded",
                "Year {city} was founded?",
            ),
            ("In which year was {city} founded?", "Do you know when {city} was founded?"),
        ),
    ),
    "museums": (
        "{city} has {n} museums.",
        "museums",
        (
            (
                "How many museums does {city} have?",
                "museums in {city}?",
                "Number of museums in {city}?",
                "How many museums has {city} got?",
            ),
            ("How many museums are there in {city}?", "Count of museums in {city}, please."),
        ),
    ),
    "tallest": (
        "The tallest building in {city} is {n} meters tall.",
        "tallest",
        (
            (
                "How tall is the tallest building in {city}?",
                "tallest building in {city}?",
                "Height of the tallest building in {city}?",
            ),
            ("What is the height of the tallest building in {city}?",),
        ),
    ),
    "bridges": (
        "{city} has {n} bridges.",
        "bridges",
        (
            ("How many bridges does {city} have?", "bridges in {city}?", "Number of bridges in {city}?"),
            ("How many bridges are there in {city}?",),
        ),
    ),
    "parks": (
        "{city} has {n} parks.",
        "parks",
        (
            ("How many parks does {city} have?", "parks in {city}?", "Number of parks in {city}?"),
            ("How many parks are there in {city}?",),
        ),
    ),
}
FACT_RANGES = {
    "population": (50, 9000, 1000),  # (low, high, factor): n = randint(low, high) * factor
    "founded": (700, 1950, 1),
    "museums": (3, 180, 1),
    "tallest": (40, 830, 1),
    "bridges": (2, 400, 1),
    "parks": (5, 300, 1),
}
NOTHING_FOUND = "I found nothing about that."

# Arithmetic and list tasks for python: (code template, (training, held-out) requests).
PYTHON_TASKS: dict[str, tuple[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "product": (
        "print({a} * {b})",
        (
            (
                "Please compute {a} * {b}.",
                "Use python to compute {a} * {b}.",
                "What is {a} times {b}? Use python.",
                "python: {a} * {b}",
                "Multiply {a} by {b} with python.",
            ),
            ("Could you run {a} * {b} in python?", "With python, what does {a} * {b} give?"),
        ),
    ),
    "power": (
        "print({a} ** {b})",
        (
            (
                "Please compute {a} to the power of {b}.",
                "Use python to compute {a} ** {b}.",
                "What is {a} to the power of {b}? Use python.",
                "python: {a} ** {b}",
            ),
            ("Could you run {a} ** {b} in python?",),
        ),
    ),
    "sum": (
        "print({a} + {b} + {c})",
        (
            (
                "Please compute {a} + {b} + {c}.",
                "Use python to add {a}, {b} and {c}.",
                "python: {a} + {b} + {c}",
            ),
            ("Could you run {a} + {b} + {c} in python?",),
        ),
    ),
    "sort": (
        "print(sorted([{items}]))",
        (
            (
                "Use python to sort these numbers: {items}.",
                "Sort {items} with python.",
                "python: sort {items}",
                "Please sort the list {items} using python.",
            ),
            ("Could you sort {items} in python?",),
        ),
    ),
}
