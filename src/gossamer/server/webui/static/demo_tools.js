// Example function tools the page can offer the model (the "Demo tools" switch) and answer itself,
// so a tool loop can be watched without writing a client. Their names and schemas are ones the
// embedded model was trained on (gossamer/tiny/tools.py). Weather and time are made up, and say so;
// the calculator really calculates.

const CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "clear", "foggy"];

export const DEMO_TOOLS = [
  {
    type: "function",
    name: "get_weather",
    description: "Get the current weather for a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name" } },
      required: ["city"],
    },
  },
  {
    type: "function",
    name: "get_time",
    description: "Get the current local time in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
  {
    type: "function",
    name: "calculator",
    description: "Evaluate an arithmetic expression.",
    parameters: {
      type: "object",
      properties: { expression: { type: "string", description: "For example 2 * 3" } },
      required: ["expression"],
    },
  },
];

/** The tool's output (a JSON string) for a function_call item. */
export function runDemoTool(name, argumentsJson) {
  return pythonJson(answer(name, argumentsJson));
}

/** Flat JSON spaced as Python's json.dumps spaces it: the embedded model learned tool results so. */
function pythonJson(value) {
  const entries = Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}: ${JSON.stringify(item)}`);
  return `{${entries.join(", ")}}`;
}

function answer(name, argumentsJson) {
  let args;
  try {
    args = JSON.parse(argumentsJson || "{}");
  } catch {
    return { error: "the arguments are not JSON" };
  }
  switch (name) {
    case "get_weather": {
      const city = String(args.city ?? "");
      const seed = hash(city);
      return { city, temperature: 5 + (seed % 25), unit: "celsius", condition: CONDITIONS[seed % CONDITIONS.length] };
    }
    case "get_time": {
      const seed = hash(String(args.city ?? ""));
      const time = `${String(seed % 24).padStart(2, "0")}:${String((seed >> 5) % 60).padStart(2, "0")}`;
      return { city: args.city, time };
    }
    case "calculator": {
      try {
        return { result: evaluate(String(args.expression ?? args.expr ?? "")) };
      } catch (error) {
        return { error: error.message };
      }
    }
    default:
      return { error: `the page has no tool named ${name}` };
  }
}

export const isDemoTool = (name) => DEMO_TOOLS.some((tool) => tool.name === name);

function hash(text) {
  let h = 7;
  for (const c of text.toLowerCase()) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h;
}

/** + - * / and parentheses over numbers, by recursive descent: never eval(). */
export function evaluate(expression) {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]|\S/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  function primary() {
    const token = next();
    if (token === "(") {
      const value = sum();
      if (next() !== ")") throw new Error("a ')' is missing");
      return value;
    }
    if (token === "-") return -primary();
    if (token !== undefined && /^\d/.test(token)) return Number(token);
    throw new Error(`unexpected ${token ?? "end"}`);
  }
  function product() {
    let value = primary();
    while (peek() === "*" || peek() === "/") value = next() === "*" ? value * primary() : value / primary();
    return value;
  }
  function sum() {
    let value = product();
    while (peek() === "+" || peek() === "-") value = next() === "+" ? value + product() : value - product();
    return value;
  }
  const value = sum();
  if (i !== tokens.length) throw new Error(`unexpected ${peek()}`);
  return Math.round(value * 1e9) / 1e9;
}
