"""The function tools gossamer-tiny is trained to call, and a simulator that answers them.

Each tool *kind* (weather, time, ...) has several names and schemas, so the model learns to read
the developer message instead of memorising one signature. Everything the assistant writes is a
fixed function of the request and the tool result: a tiny model sampled at temperature 1.0 only
stays on the format when the text it learned has almost no entropy.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CITIES = (
    "Paris",
    "Tokyo",
    "London",
    "Berlin",
    "Madrid",
    "Rome",
    "Lisbon",
    "Oslo",
    "Cairo",
    "Lima",
    "Sydney",
    "Toronto",
    "Chicago",
    "Boston",
    "Seattle",
    "Denver",
    "Dublin",
    "Vienna",
    "Prague",
    "Warsaw",
    "Athens",
    "Istanbul",
    "Mumbai",
    "Delhi",
    "Beijing",
    "Shanghai",
    "Seoul",
    "Bangkok",
    "Singapore",
    "Jakarta",
    "Nairobi",
    "Lagos",
    "Mexico City",
    "New York",
    "Los Angeles",
    "San Francisco",
    "Buenos Aires",
    "Cape Town",
    "Amsterdam",
    "Stockholm",
    "Helsinki",
    "Zurich",
    "Montreal",
    "Vancouver",
    "Miami",
    "Houston",
    "Moscow",
    "Kyiv",
    "Hanoi",
    "Manila",
)
CONDITIONS = ("sunny", "cloudy", "rainy", "windy", "snowy", "foggy", "clear", "stormy")
UNIT_PAIRS = (
    ("miles", "kilometers", 1.609344),
    ("kilometers", "miles", 0.621371),
    ("pounds", "kilograms", 0.453592),
    ("kilograms", "pounds", 2.204623),
    ("feet", "meters", 0.3048),
    ("meters", "feet", 3.280840),
    ("inches", "centimeters", 2.54),
    ("centimeters", "inches", 0.393701),
    ("gallons", "liters", 3.785412),
    ("liters", "gallons", 0.264172),
)
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR")
STOCKS = ("AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "IBM", "ORCL", "INTC")
ORDER_STATUSES = ("shipped", "delivered", "processing", "cancelled", "pending")
FIRST_NAMES = ("Maria", "John", "Aiko", "Omar", "Lena", "Carlos", "Priya", "Tom", "Sara", "Ivan")
LAST_NAMES = ("Lopez", "Smith", "Tanaka", "Haddad", "Fischer", "Silva", "Patel", "Brown", "Kim", "Petrov")


@dataclass(frozen=True)
class ToolSchema:
    """One concrete function tool as offered in a developer message."""

    kind: str
    name: str
    description: str
    parameters: dict[str, Any]
    # slots (what the user asked for) -> JSON arguments that match `parameters`.
    build_args: Callable[[dict[str, Any]], dict[str, Any]]


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


_S = {"type": "string"}
_N = {"type": "number"}

SCHEMAS: dict[str, list[ToolSchema]] = {
    "weather": [
        ToolSchema(
            "weather",
            "get_weather",
            "Get the current weather for a city.",
            _obj({"city": {**_S, "description": "City name"}}, ["city"]),
            lambda s: {"city": s["city"]},
        ),
        ToolSchema(
            "weather",
            "get_current_weather",
            "Look up current weather conditions in a location.",
            _obj(
                {
                    "location": {**_S, "description": "City name"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                ["location", "unit"],
            ),
            lambda s: {"location": s["city"], "unit": "celsius"},
        ),
        ToolSchema(
            "weather",
            "weather_lookup",
            "Returns temperature and conditions for a city.",
            _obj({"city": _S}, ["city"]),
            lambda s: {"city": s["city"]},
        ),
    ],
    "time": [
        ToolSchema(
            "time",
            "get_time",
            "Get the current local time in a city.",
            _obj({"city": _S}, ["city"]),
            lambda s: {"city": s["city"]},
        ),
        ToolSchema(
            "time",
            "get_current_time",
            "Returns the current time for a location.",
            _obj({"location": {**_S, "description": "City name"}}, ["location"]),
            lambda s: {"location": s["city"]},
        ),
        ToolSchema(
            "time",
            "world_clock",
            "Look up the local time of a city.",
            _obj({"city": _S}, ["city"]),
            lambda s: {"city": s["city"]},
        ),
    ],
    "units": [
        ToolSchema(
            "units",
            "convert_units",
            "Convert a value from one unit to another.",
            _obj({"value": _N, "from_unit": _S, "to_unit": _S}, ["value", "from_unit", "to_unit"]),
            lambda s: {"value": s["value"], "from_unit": s["from_unit"], "to_unit": s["to_unit"]},
        ),
        ToolSchema(
            "units",
            "unit_converter",
            "Unit conversion for length, weight and volume.",
            _obj({"amount": _N, "from": _S, "to": _S}, ["amount", "from", "to"]),
            lambda s: {"amount": s["value"], "from": s["from_unit"], "to": s["to_unit"]},
        ),
    ],
    "calc": [
        ToolSchema(
            "calc",
            "calculator",
            "Evaluate an arithmetic expression.",
            _obj({"expression": {**_S, "description": "For example 2 * 3"}}, ["expression"]),
            lambda s: {"expression": s["expression"]},
        ),
        ToolSchema(
            "calc",
            "calculate",
            "Compute the result of a math expression.",
            _obj({"expression": _S}, ["expression"]),
            lambda s: {"expression": s["expression"]},
        ),
        ToolSchema(
            "calc",
            "evaluate_expression",
            "Arithmetic with + - * and /.",
            _obj({"expr": _S}, ["expr"]),
            lambda s: {"expr": s["expression"]},
        ),
    ],
    "order": [
        ToolSchema(
            "order",
            "get_order_status",
            "Look up the status of an order by its id.",
            _obj({"order_id": _S}, ["order_id"]),
            lambda s: {"order_id": s["order_id"]},
        ),
        ToolSchema(
            "order",
            "lookup_order",
            "Find an order by id.",
            _obj({"id": {**_S, "description": "Order id"}}, ["id"]),
            lambda s: {"id": s["order_id"]},
        ),
    ],
    "customer": [
        ToolSchema(
            "customer",
            "get_customer",
            "Get a customer record by customer id.",
            _obj({"customer_id": {"type": "integer"}}, ["customer_id"]),
            lambda s: {"customer_id": s["customer_id"]},
        ),
        ToolSchema(
            "customer",
            "lookup_user",
            "Look up a user by numeric id.",
            _obj({"user_id": {"type": "integer"}}, ["user_id"]),
            lambda s: {"user_id": s["customer_id"]},
        ),
    ],
    "currency": [
        ToolSchema(
            "currency",
            "convert_currency",
            "Convert an amount between currencies.",
            _obj(
                {"amount": _N, "from_currency": _S, "to_currency": _S},
                ["amount", "from_currency", "to_currency"],
            ),
            lambda s: {
                "amount": s["amount"],
                "from_currency": s["from_currency"],
                "to_currency": s["to_currency"],
            },
        ),
        ToolSchema(
            "currency",
            "exchange_rate",
            "Convert money using today's exchange rate.",
            _obj(
                {"amount": _N, "base": {**_S, "description": "ISO code"}, "target": _S},
                ["amount", "base", "target"],
            ),
            lambda s: {"amount": s["amount"], "base": s["from_currency"], "target": s["to_currency"]},
        ),
    ],
    "stock": [
        ToolSchema(
            "stock",
            "get_stock_price",
            "Get the latest stock price for a ticker symbol.",
            _obj({"symbol": _S}, ["symbol"]),
            lambda s: {"symbol": s["symbol"]},
        ),
        ToolSchema(
            "stock",
            "stock_quote",
            "Returns a stock quote.",
            _obj({"ticker": {**_S, "description": "Ticker symbol"}}, ["ticker"]),
            lambda s: {"ticker": s["symbol"]},
        ),
    ],
}
KINDS = tuple(SCHEMAS)


def sample_slots(kind: str, rng: random.Random) -> dict[str, Any]:
    """The values a request of `kind` is about (what the user names, what the tool needs)."""
    if kind in ("weather", "time"):
        return {"city": rng.choice(CITIES)}
    if kind == "units":
        from_unit, to_unit, factor = rng.choice(UNIT_PAIRS)
        return {
            "value": rng.choice((rng.randint(1, 100), rng.randint(1, 1000))),
            "from_unit": from_unit,
            "to_unit": to_unit,
            "factor": factor,
        }
    if kind == "calc":
        op = rng.choice("+-*/")
        a, b = rng.randint(2, 999), rng.randint(2, 99 if op in "*/" else 999)
        return {"expression": f"{a} {op} {b}", "a": a, "b": b, "op": op}
    if kind == "order":
        return {"order_id": f"{rng.choice('ABCDKXZ')}{rng.randint(1000, 9999)}"}
    if kind == "customer":
        return {"customer_id": rng.randint(100, 99999)}
    if kind == "currency":
        src, dst = rng.sample(CURRENCIES, 2)
        return {
            "amount": rng.choice((10, 20, 50, 100, 200, 500, 1000, rng.randint(1, 999))),
            "from_currency": src,
            "to_currency": dst,
        }
    if kind == "stock":
        return {"symbol": rng.choice(STOCKS)}
    raise ValueError(f"unknown tool kind {kind!r}")


def _fmt(x: float) -> float | int:
    """Round like a friendly API would: two decimals, integers without a fraction."""
    r = round(x, 2)
    return int(r) if r == int(r) else r


def simulate(kind: str, slots: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The tool's JSON result for a call about `slots` (values vary per call, on purpose)."""
    if kind == "weather":
        return {
            "city": slots["city"],
            "temperature": rng.randint(-15, 40),
            "unit": "celsius",
            "condition": rng.choice(CONDITIONS),
        }
    if kind == "time":
        return {"city": slots["city"], "time": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"}
    if kind == "units":
        return {"result": _fmt(slots["value"] * slots["factor"]), "unit": slots["to_unit"]}
    if kind == "calc":
        a, b, op = slots["a"], slots["b"], slots["op"]
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
        return {"result": _fmt(value)}
    if kind == "order":
        return {"order_id": slots["order_id"], "status": rng.choice(ORDER_STATUSES)}
    if kind == "customer":
        return {
            "customer_id": slots["customer_id"],
            "name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        }
    if kind == "currency":
        return {"amount": _fmt(slots["amount"] * rng.uniform(0.2, 3.0)), "currency": slots["to_currency"]}
    if kind == "stock":
        return {"symbol": slots["symbol"], "price": _fmt(rng.uniform(20, 900))}
    raise ValueError(f"unknown tool kind {kind!r}")


def answer_sentence(kind: str, slots: dict[str, Any], result: dict[str, Any]) -> str:
    """The final answer that states the tool result."""
    if kind == "weather":
        return f"It is {result['temperature']} degrees celsius and {result['condition']} in {slots['city']}."
    if kind == "time":
        return f"The current time in {slots['city']} is {result['time']}."
    if kind == "units":
        return f"{slots['value']} {slots['from_unit']} is {result['result']} {slots['to_unit']}."
    if kind == "calc":
        return f"{slots['expression']} = {result['result']}."
    if kind == "order":
        return f"Order {slots['order_id']} is {result['status']}."
    if kind == "customer":
        return f"Customer {slots['customer_id']} is {result['name']}."
    if kind == "currency":
        return f"{slots['amount']} {slots['from_currency']} is {result['amount']} {slots['to_currency']}."
    if kind == "stock":
        return f"{slots['symbol']} is trading at {result['price']} USD."
    raise ValueError(f"unknown tool kind {kind!r}")


def answer_values(kind: str, result: dict[str, Any]) -> list[str]:
    """The parts of a tool result a correct final answer must contain."""
    keys = {
        "weather": ("temperature", "condition"),
        "time": ("time",),
        "units": ("result",),
        "calc": ("result",),
        "order": ("status",),
        "customer": ("name",),
        "currency": ("amount",),
        "stock": ("price",),
    }[kind]
    return [str(result[k]) for k in keys]


def need_phrase(kind: str, slots: dict[str, Any]) -> str:
    """What the user wants, as the reasoning names it."""
    return {
        "weather": lambda: f"the weather in {slots['city']}",
        "time": lambda: f"the current time in {slots['city']}",
        "units": lambda: f"{slots['value']} {slots['from_unit']} in {slots['to_unit']}",
        "calc": lambda: f"the value of {slots['expression']}",
        "order": lambda: f"the status of order {slots['order_id']}",
        "customer": lambda: f"customer {slots['customer_id']}",
        "currency": lambda: f"{slots['amount']} {slots['from_currency']} in {slots['to_currency']}",
        "stock": lambda: f"the stock price of {slots['symbol']}",
    }[kind]()
