// rxcdc client runtime: JSON text <-> values without losing integers outside the safe range.
//
// The server writes integers of any size exactly (docs/protocol.md, "Numbers"); JSON.parse would
// round those past 2^53, so two bigint ids could become one. This is a small parser of our own
// rather than a library such as lossless-json because the runtime is copied into users' projects
// by makefrontend and promises no npm dependency (docs/frontend.md); the native
// `JSON.parse(text, reviver)` with `context.source` would do, but Node 20 and older browsers lack it.

/** A JSON value as the runtime holds it: integers past 2^53 (either sign) are `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

// A run of 16+ digits that is a whole integer token (not a fraction or a mantissa). Every integer
// outside the safe range has 16 digits or more, so text without such a run is what JSON.parse
// reads exactly: the fast path. A run inside a string only sends the text the slow way.
const LONG_INTEGER = /(?:^|[^\d.])\d{16,}(?![\d.eE])/;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/**
 * Parse JSON text like `JSON.parse`, except that integers outside the safe range become `bigint`.
 * Safe integers and every non-integer stay `number`; invalid text throws a `SyntaxError`.
 */
export function parseJson(text: string): JsonValue {
  if (!LONG_INTEGER.test(text)) return JSON.parse(text) as JsonValue;
  const reader = new Reader(text);
  const value = reader.value();
  reader.end();
  return value;
}

/** JSON text of a value like `JSON.stringify`, except that a `bigint` is written as its integer. */
export function stringifyJson(value: unknown): string {
  const text = write(value, "");
  if (text === undefined) throw new TypeError("rxcdc: this value has no JSON form");
  return text;
}

function write(value: unknown, key: string): string | undefined {
  let v = value;
  if (typeof v === "object" && v !== null && typeof (v as { toJSON?: unknown }).toJSON === "function") {
    v = (v as { toJSON(key: string): unknown }).toJSON(key);
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v !== "object" || v === null || v instanceof Number || v instanceof String || v instanceof Boolean) {
    return JSON.stringify(v); // scalars and boxed scalars; undefined, functions, symbols: undefined
  }
  if (Array.isArray(v)) return `[${v.map((item, i) => write(item, String(i)) ?? "null").join(",")}]`;
  const parts: string[] = [];
  for (const [k, item] of Object.entries(v)) {
    const text = write(item, k);
    if (text !== undefined) parts.push(`${JSON.stringify(k)}:${text}`);
  }
  return `{${parts.join(",")}}`;
}

/** A recursive-descent reader over one JSON text (RFC 8259). */
class Reader {
  private pos = 0;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  value(): JsonValue {
    this.space();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.object();
    if (c === 0x5b) return this.array();
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    for (const [word, value] of WORDS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    return this.fail("a value");
  }

  /** Only whitespace may follow the top-level value. */
  end(): void {
    this.space();
    if (this.pos < this.text.length) this.fail("the end of the text");
  }

  private object(): { [key: string]: JsonValue } {
    const out: { [key: string]: JsonValue } = {};
    this.pos += 1;
    if (this.peek() === 0x7d) {
      this.pos += 1;
      return out;
    }
    for (;;) {
      if (this.peek() !== 0x22) this.fail("a key");
      const key = this.string();
      this.expect(0x3a, "':'");
      const item = this.value();
      // `__proto__` is a plain key in JSON (as JSON.parse keeps it), not the prototype.
      if (key === "__proto__") {
        Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = item;
      }
      if (this.peek() === 0x2c) this.pos += 1;
      else return this.close(0x7d, "',' or '}'", out);
    }
  }

  private array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos += 1;
    if (this.peek() === 0x5d) {
      this.pos += 1;
      return out;
    }
    for (;;) {
      out.push(this.value());
      if (this.peek() === 0x2c) this.pos += 1;
      else return this.close(0x5d, "',' or ']'", out);
    }
  }

  private string(): string {
    const start = this.pos;
    let escaped = false;
    for (let i = start + 1; i < this.text.length; i += 1) {
      const c = this.text.charCodeAt(i);
      if (c === 0x22) {
        this.pos = i + 1;
        // Escapes are decoded by JSON.parse itself: exactly its rules, at native speed.
        return escaped ? (JSON.parse(this.text.slice(start, i + 1)) as string) : this.text.slice(start + 1, i);
      }
      if (c < 0x20) break; // control characters must be escaped
      if (c === 0x5c) {
        escaped = true;
        i += 1;
      }
    }
    this.pos = start;
    return this.fail("a closed string");
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) return this.fail("a number");
    this.pos = NUMBER.lastIndex;
    const token = match[0];
    const n = Number(token);
    const integer = match[1] === undefined && match[2] === undefined;
    return integer && !Number.isSafeInteger(n) ? BigInt(token) : n;
  }

  private close<T>(bracket: number, what: string, value: T): T {
    this.expect(bracket, what);
    return value;
  }

  private expect(c: number, what: string): void {
    if (this.peek() !== c) this.fail(what);
    this.pos += 1;
  }

  /** The next character code after whitespace. */
  private peek(): number {
    this.space();
    return this.text.charCodeAt(this.pos);
  }

  private space(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos += 1;
    }
  }

  private fail(what: string): never {
    throw new SyntaxError(`rxcdc: invalid JSON at position ${this.pos}: expected ${what}`);
  }
}

const WORDS: readonly (readonly [string, JsonValue])[] = [
  ["true", true],
  ["false", false],
  ["null", null],
];
