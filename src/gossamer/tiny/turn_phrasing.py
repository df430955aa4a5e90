"""How users go on after a first request, and what they ask that no tool serves.

Templates for later turns of a conversation (follow-ups that change one value of the last call,
a switch between weather and time for the same city, asking to hear the last answer again),
introductions, and requests outside what gossamer-tiny can do. Like phrasing.py, each set is split
into training and held-out templates; the evaluation draws only held-out ones. The held-out
follow-ups start with words no training follow-up starts with ("How about", "Could you"), so the
multi-turn evaluation measures more than recall of a sentence shape.
"""

from __future__ import annotations

# A follow-up that asks the last call again with one value changed:
# kind -> ((changed slot, training templates, held-out templates), ...).
_CITY_AGAIN = (
    "city",
    (
        "And in {city}?",
        "What about {city}?",
        "And {city}?",
        "What about in {city}?",
        "Same for {city}.",
        "and in {city}",
        "Now {city}.",
        "And for {city}?",
        "Now do {city}.",
        "Same question for {city}.",
        "{city}?",
        "Also {city}.",
        "what about {city}",
    ),
    ("How about {city}?", "Could you do the same for {city}?", "{city} as well, please."),
)
AGAIN: dict[str, tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]] = {
    "weather": (_CITY_AGAIN,),
    "time": (_CITY_AGAIN,),
    "units": (
        (
            "value",
            (
                "And {value} {from_unit}?",
                "What about {value} {from_unit}?",
                "Now {value} {from_unit}.",
                "And {value}?",
                "Same for {value} {from_unit}.",
                "what about {value}",
            ),
            ("How about {value} {from_unit}?", "Could you do {value} {from_unit} too?"),
        ),
    ),
    "calc": (
        (
            "expression",
            (
                "And {expression}?",
                "What about {expression}?",
                "Now {expression}.",
                "Next one: {expression}",
                "and {expression}",
                "Same for {expression}.",
            ),
            ("How about {expression}?", "One more: {expression}"),
        ),
    ),
    "order": (
        (
            "order_id",
            (
                "And order {order_id}?",
                "What about order {order_id}?",
                "And {order_id}?",
                "Now check {order_id}.",
                "Same for order {order_id}.",
                "what about {order_id}",
            ),
            ("How about order {order_id}?", "Could you also check {order_id}?"),
        ),
    ),
    "customer": (
        (
            "customer_id",
            (
                "And customer {customer_id}?",
                "What about customer {customer_id}?",
                "And {customer_id}?",
                "Now customer {customer_id}.",
                "Same for {customer_id}.",
            ),
            ("How about customer {customer_id}?", "Could you also look up {customer_id}?"),
        ),
    ),
    "currency": (
        (
            "amount",
            (
                "And {amount} {from_currency}?",
                "What about {amount} {from_currency}?",
                "Now {amount} {from_currency}.",
                "Same for {amount} {from_currency}.",
            ),
            ("How about {amount} {from_currency}?",),
        ),
        (
            "to_currency",
            (
                "And in {to_currency}?",
                "What about in {to_currency}?",
                "In {to_currency}?",
                "Now in {to_currency}.",
                "Same in {to_currency}.",
            ),
            ("How about in {to_currency}?", "Could you give it in {to_currency} too?"),
        ),
    ),
    "stock": (
        (
            "symbol",
            (
                "And {symbol}?",
                "What about {symbol}?",
                "Now {symbol}.",
                "Same for {symbol}.",
                "and {symbol}",
            ),
            ("How about {symbol}?", "Could you check {symbol} too?"),
        ),
    ),
}

# The other of weather and time, for the city of the last call: target kind -> (training, held-out).
THERE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "time": (
        (
            "And what time is it there?",
            "What's the time there?",
            "And the time there?",
            "What time is it there now?",
            "Time there?",
            "and the local time there",
        ),
        ("Could you check the time there too?", "How about the local time there?"),
    ),
    "weather": (
        (
            "And what's the weather there?",
            "How is the weather there?",
            "Weather there?",
            "Is it cold there?",
            "And the weather there?",
            "what's the weather like there",
        ),
        ("How about the weather there?", "Could you check the weather there too?"),
    ),
}

# Asking for the last answer again: (training, held-out). The answer repeats it word for word.
REPEAT = (
    (
        "Can you repeat that?",
        "What did you say?",
        "Say that again.",
        "Repeat that please.",
        "Sorry, what was that?",
        "Again please?",
        "repeat that",
        "What was your answer?",
    ),
    ("Could you say that one more time?", "I didn't catch that, once more?"),
)

# What a switch to a new request may start with in a later turn (training only).
FOLLOW_PREFIXES = (
    "",
    "",
    "",
    "Okay. ",
    "Thanks. ",
    "Great. ",
    "Also, ",
    "Next, ",
    "Now, ",
    "One more thing: ",
)

# Introductions: (training, held-out); names are not copied into the answer (a name the model
# never saw is a token it cannot write), so any name works.
INTRO = (
    (
        "My name is {name}.",
        "I'm {name}.",
        "Hello, I am {name}.",
        "{name} here.",
        "Call me {name}.",
        "Hey, this is {name}.",
        "I am {name}, nice to meet you.",
        "Hello! My name is {name}.",
        "my name is {name}",
        "Good morning, I'm {name}.",
    ),
    ("Hi there, my name is {name}.", "Nice to meet you, I'm {name}.", "{name} speaking, hello!"),
)
NAMES = (
    (
        "Maria",
        "John",
        "Aiko",
        "Omar",
        "Lena",
        "Carlos",
        "Priya",
        "Tom",
        "Sara",
        "Ivan",
        "Emma",
        "Lucas",
        "Mia",
        "Noah",
        "Yuki",
        "Ahmed",
        "Sofia",
        "David",
        "Nina",
        "Paul",
    ),
    ("Ann", "Peter", "Julia", "Ken", "Olga", "Marco"),
)
INTRO_ANSWER = "Nice to meet you! How can I help you today?"

# Requests outside what the model can do, whatever tools it is offered: (training, held-out).
# Some name a city, so that a city alone never decides a weather or time call.
OUT_OF_SCOPE = (
    (
        "Write a poem about love.",
        "Write a story about a dragon.",
        "Compose a song about summer.",
        "Write an essay on climate change.",
        "Draw a picture of a cat.",
        "Book a flight to {city}.",
        "Reserve a table for two tonight.",
        "Book me a hotel in {city}.",
        "Send an email to my boss.",
        "Call my mother.",
        "Play some music.",
        "Play my favorite song.",
        "Set an alarm for 7 am.",
        "Remind me to buy milk.",
        "Order a pizza for me.",
        "Translate this into Spanish: good night.",
        "Summarize this article for me.",
        "Explain quantum physics.",
        "What is the meaning of life?",
        "Who won the last world cup?",
        "Who is the president of the United States?",
        "Recommend a good movie.",
        "Recommend a book to read.",
        "What should I cook for dinner?",
        "Give me a recipe for pancakes.",
        "How do I fix my car?",
        "Help me write a cover letter.",
        "Teach me how to play chess.",
        "What is the best phone to buy?",
        "Turn on the lights.",
        "Open the garage door.",
        "Can you read my emails?",
        "Sing me a song.",
        "Tell me the news.",
        "Write some Python code to sort a list.",
        "Fix the bug in my code.",
        "Plan my vacation in {city}.",
        "How far away is the moon?",
        "Do my homework.",
        "Solve this riddle for me.",
        "Write a letter to my friend.",
        "Draw me a map of {city}.",
        "Give me some life advice.",
        "Who was the first person on the moon?",
        "Write a haiku about autumn.",
        "Create a workout plan for me.",
        "Make a shopping list.",
        "Order new shoes online.",
        "Find a doctor for me.",
        "Pay my bills.",
        "Buy tickets for the concert.",
        "How do I learn French?",
        "What's the best way to lose weight?",
        "Predict the lottery numbers.",
        "Tell me a bedtime story.",
        "Check my bank account.",
        "Post this on social media.",
        "Translate hello into German.",
        "Summarize the book Moby Dick.",
        "What are the best places to visit in {city}?",
        "write a poem",
        "book a taxi",
    ),
    (
        "Write me a poem about the sea.",
        "Can you book a taxi to the airport?",
        "Find me a restaurant in {city}.",
        "Please send a text message to my sister.",
        "Help me plan a birthday party.",
        "Could you draw a horse?",
        "Explain how airplanes fly.",
        "Write a short story about a robot.",
        "Play a podcast for me.",
        "Give me ideas for a gift.",
        "Schedule a meeting for Monday.",
        "How do I bake bread?",
        "Recommend a TV show.",
        "Translate good morning into Italian.",
        "Who painted the Mona Lisa?",
        "Make me a sandwich.",
        "Clean my room.",
        "Teach me to swim.",
        "What is the history of {city}?",
        "Rent me a car in {city}.",
    ),
)
OUT_OF_SCOPE_ANSWER = "Sorry, I can't help with that: I can only chat and use the tools I am given."
