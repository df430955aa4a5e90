"""How users ask: request templates per tool kind, split into training and held-out sets.

The held-out templates never appear in training; the evaluation samples its prompts from them.
"""

from __future__ import annotations

# kind -> (training templates, held-out templates); slots are filled with str.format.
REQUESTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "weather": (
        (
            "What's the weather in {city}?",
            "What is the weather like in {city}?",
            "Weather in {city}?",
            "How is the weather in {city} today?",
            "Is it cold in {city} right now?",
            "Tell me the weather for {city}.",
            "what's the weather in {city}",
            "Is it raining in {city}?",
            "Check the weather in {city} please.",
            "How warm is it in {city}?",
        ),
        (
            "Can you look up the current weather in {city}?",
            "I'm flying to {city}. How's the weather there?",
            "Give me the weather report for {city}.",
            "weather {city}",
        ),
    ),
    "time": (
        (
            "What time is it in {city}?",
            "What's the time in {city}?",
            "Current time in {city}?",
            "Tell me the local time in {city}.",
            "what time is it in {city}",
            "Do you know the time in {city}?",
            "Time in {city} please.",
        ),
        (
            "Could you check what time it is in {city} right now?",
            "I need the local time for {city}.",
            "time in {city}?",
        ),
    ),
    "units": (
        (
            "Convert {value} {from_unit} to {to_unit}.",
            "How many {to_unit} is {value} {from_unit}?",
            "What is {value} {from_unit} in {to_unit}?",
            "{value} {from_unit} to {to_unit}?",
            "Please convert {value} {from_unit} into {to_unit}.",
        ),
        (
            "I have {value} {from_unit}. How much is that in {to_unit}?",
            "convert {value} {from_unit} in {to_unit}",
            "Can you express {value} {from_unit} in {to_unit}?",
        ),
    ),
    "calc": (
        (
            "What is {expression}?",
            "Calculate {expression}.",
            "Compute {expression}.",
            "{expression} = ?",
            "What's {expression}?",
            "Please work out {expression}.",
            "calculate {expression}",
        ),
        (
            "Can you tell me what {expression} equals?",
            "Quick math: {expression}",
            "Solve {expression} for me.",
        ),
    ),
    "order": (
        (
            "What is the status of order {order_id}?",
            "Where is my order {order_id}?",
            "Check order {order_id}.",
            "Has order {order_id} shipped?",
            "Status of order {order_id}?",
            "order {order_id} status",
        ),
        ("Can you look up my order {order_id}?", "I want to know what happened to order {order_id}."),
    ),
    "customer": (
        (
            "Who is customer {customer_id}?",
            "Look up customer {customer_id}.",
            "Find the customer with id {customer_id}.",
            "Get customer {customer_id}.",
            "What is the name of customer {customer_id}?",
        ),
        ("Can you pull up the record for customer {customer_id}?", "customer {customer_id}?"),
    ),
    "currency": (
        (
            "Convert {amount} {from_currency} to {to_currency}.",
            "How much is {amount} {from_currency} in {to_currency}?",
            "What is {amount} {from_currency} in {to_currency}?",
            "{amount} {from_currency} to {to_currency}?",
            "Exchange {amount} {from_currency} into {to_currency}.",
        ),
        (
            "I have {amount} {from_currency}. What is that in {to_currency}?",
            "How many {to_currency} do I get for {amount} {from_currency}?",
        ),
    ),
    "stock": (
        (
            "What is the stock price of {symbol}?",
            "How much is {symbol} trading at?",
            "Price of {symbol}?",
            "Get me a quote for {symbol}.",
            "What's {symbol} stock at?",
            "{symbol} share price?",
        ),
        ("Can you check the current price of {symbol} shares?", "quote {symbol}"),
    ),
}

# Joins two requests into one message asking for both.
JOINERS = (("{a} And {b}", "{a} Also, {b}", "{a} {b}"), ("{a} Plus {b}", "{a} Then {b}"))

# Requests no tool can serve: (intent, training templates, held-out templates, answer).
SMALL_TALK: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        "greet",
        ("Hi!", "Hello", "Hello there!", "Hey", "Good morning!", "hi"),
        ("Hey there, hello!", "Good evening"),
        "Hello! How can I help you today?",
    ),
    (
        "how",
        ("How are you?", "How are you doing?", "how are you"),
        ("How's it going?",),
        "I'm doing well, thank you. How can I help?",
    ),
    (
        "thanks",
        ("Thanks!", "Thank you.", "thanks a lot"),
        ("Thank you so much!", "Cheers, thanks"),
        "You're welcome!",
    ),
    (
        "who",
        ("Who are you?", "What are you?", "What is your name?"),
        ("Tell me about yourself.",),
        "I am gossamer-tiny, a small demo model that can chat and call tools.",
    ),
    (
        "joke",
        ("Tell me a joke.", "Say something funny."),
        ("Do you know a joke?",),
        "Why did the computer go to the doctor? It had a virus.",
    ),
    ("bye", ("Bye!", "Goodbye.", "See you later."), ("Have a nice day, bye!",), "Goodbye! Have a great day."),
)

CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Portugal", "Lisbon"),
    ("Norway", "Oslo"),
    ("Egypt", "Cairo"),
    ("Peru", "Lima"),
    ("Canada", "Ottawa"),
    ("Kenya", "Nairobi"),
    ("Greece", "Athens"),
    ("Austria", "Vienna"),
    ("Poland", "Warsaw"),
    ("Ireland", "Dublin"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("China", "Beijing"),
    ("India", "New Delhi"),
    ("Mexico", "Mexico City"),
    ("Brazil", "Brasilia"),
    ("Australia", "Canberra"),
)
CAPITAL_QUESTIONS = (
    ("What is the capital of {country}?", "Capital of {country}?", "What's the capital city of {country}?"),
    ("Which city is the capital of {country}?", "Name the capital of {country}."),
)

# Extra training-only phrasings and framings for the fine-tuning pass (`augment=True`): the first
# model overfit its ten-odd templates per kind, so varied wording and chatty framing teach it that
# the request, not the sentence shape, decides the tool.
EXTRA_REQUESTS: dict[str, tuple[str, ...]] = {
    "weather": (
        "Tell me about the weather in {city}.",
        "How hot is it in {city}?",
        "I'm in {city}. What is the weather?",
        "Need the weather for {city}.",
        "{city} weather?",
        "What's it like outside in {city} now?",
    ),
    "time": (
        "I'm in {city}. What time is it?",
        "Tell me what time it is in {city}.",
        "{city} time?",
        "Need the current time in {city}.",
        "What is the clock showing in {city}?",
    ),
    "units": (
        "{value} {from_unit} is how many {to_unit}?",
        "I need {value} {from_unit} converted to {to_unit}.",
        "Change {value} {from_unit} to {to_unit}.",
        "My box is {value} {from_unit}. What is it in {to_unit}?",
    ),
    "calc": (
        "How much is {expression}?",
        "Work out {expression} please.",
        "I need to know {expression}.",
        "What does {expression} give?",
        "Help me with this sum: {expression}",
    ),
    "order": (
        "Any news on order {order_id}?",
        "Track order {order_id}.",
        "I ordered something. The order id is {order_id}. Where is it?",
        "What happened with order {order_id}?",
    ),
    "customer": (
        "Show customer {customer_id}.",
        "I need the record of customer {customer_id}.",
        "Which customer has id {customer_id}?",
        "Tell me who customer {customer_id} is.",
    ),
    "currency": (
        "I need {amount} {from_currency} in {to_currency}.",
        "Change {amount} {from_currency} to {to_currency}.",
        "{amount} {from_currency} is how much in {to_currency}?",
        "I am travelling. What are {amount} {from_currency} worth in {to_currency}?",
    ),
    "stock": (
        "Tell me the price of {symbol}.",
        "How is {symbol} doing? I need the price.",
        "{symbol} price please.",
        "What do {symbol} shares cost now?",
    ),
}
PREFIXES = (
    "",
    "",
    "Hey, ",
    "Hi! ",
    "Quick question: ",
    "I need some help. ",
    "Hello. ",
    "Okay. ",
    "So, ",
    "Good morning! ",
    "Please help. ",
)
SUFFIXES = ("", "", "", " Thanks!", " Thank you.", " Please.", " I need it now.", " Thanks in advance.")

# A second round of training-only phrasings (`augment=True`), written for the failures of the first
# fine-tuned model: terse keyword requests read as small talk, the target written before the
# source in conversions, and joined requests whose second half was dropped.
TERSE_REQUESTS: dict[str, tuple[str, ...]] = {
    "weather": (
        "{city} weather",
        "weather for {city}",
        "weather at {city} now",
        "{city}: weather?",
        "temperature in {city}",
        "{city} temperature?",
        "is it hot in {city}",
        "Weather, {city}.",
    ),
    "time": (
        "{city} local time",
        "local time {city}",
        "clock in {city}?",
        "{city} time now",
        "current time {city}",
        "Time, {city}.",
        "the time at {city}?",
    ),
    "units": (
        "{value} {from_unit} in {to_unit}",
        "{value} {from_unit} -> {to_unit}",
        "{from_unit} to {to_unit}: {value}",
        "In {to_unit}, how much is {value} {from_unit}?",
        "I want {to_unit}. Convert {value} {from_unit}.",
        "{value} {from_unit} = ? {to_unit}",
    ),
    "calc": (
        "{expression}",
        "{expression}?",
        "calc {expression}",
        "work out {expression}",
        "Result of {expression}?",
        "I need the answer to {expression}.",
    ),
    "order": (
        "order {order_id}?",
        "track {order_id}",
        "{order_id} order status?",
        "status {order_id}",
        "Where is order {order_id} now?",
        "My order is {order_id}. Status?",
    ),
    "customer": (
        "customer id {customer_id}",
        "{customer_id} customer?",
        "find customer {customer_id}",
        "customer record {customer_id}",
        "Name of customer {customer_id}?",
        "Who has customer id {customer_id}?",
    ),
    "currency": (
        "{amount} {from_currency} in {to_currency}",
        "{amount} {from_currency} -> {to_currency}",
        "In {to_currency}, what is {amount} {from_currency}?",
        "I want {to_currency} for {amount} {from_currency}.",
        "What do {amount} {from_currency} come to in {to_currency}?",
        "{to_currency} for {amount} {from_currency}?",
        "Convert to {to_currency}: {amount} {from_currency}.",
    ),
    "stock": (
        "{symbol} quote",
        "price {symbol}",
        "stock {symbol}",
        "{symbol}?",
        "{symbol} stock price",
        "Share price of {symbol} now?",
    ),
}
EXTRA_JOINERS = (
    "{a} and {b}",
    "{a} Next, {b}",
    "{a} After that, {b}",
    "{a} Second, {b}",
    "{a} And also {b}",
    "{a} Also {b}",
    "{a} Additionally, {b}",
    "{a} Oh, and {b}",
)
EXTRA_SMALL_TALK: dict[str, tuple[str, ...]] = {
    "greet": ("Good afternoon!", "Hi there", "hello!", "Hey!", "Greetings."),
    "how": ("How are things?", "How do you do?", "you ok?"),
    "thanks": ("Thanks so much.", "Many thanks!", "thank you", "Great, thanks."),
    "who": ("Who am I talking to?", "Tell me who you are.", "Introduce yourself."),
    "joke": ("Tell me something funny.", "Make me laugh.", "A joke please."),
    "bye": ("Bye", "Goodbye!", "See you.", "That is all, goodbye."),
}
EXTRA_CAPITAL_QUESTIONS = (
    "capital of {country}",
    "Tell me the capital of {country}.",
    "{country} capital?",
    "Capital city of {country}?",
)

# The words that say what a request wants (`augment=3` roughens requests but never drops these, so
# a roughened request still names its tool; slot values are kept too).
KEYWORDS: dict[str, frozenset[str]] = {
    "weather": frozenset({"weather", "temperature", "hot", "cold", "warm", "raining", "outside"}),
    "time": frozenset({"time", "clock"}),
    "units": frozenset({"convert", "converted", "change"}),
    "calc": frozenset({"calculate", "compute", "calc", "math", "sum", "result", "answer"}),
    "order": frozenset({"order", "track", "status", "shipped"}),
    "customer": frozenset({"customer", "record"}),
    "currency": frozenset({"convert", "exchange", "change", "worth"}),
    "stock": frozenset({"stock", "price", "quote", "shares", "share", "trading"}),
}
