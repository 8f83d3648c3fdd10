// The runtime's JSON reader and writer (rxcdc/client/json.ts), judged against JSON.parse and
// JSON.stringify: the same values everywhere, except integers outside the safe range, kept exact.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJson, stringifyJson } from "../../rxcdc/client/json";

// Appended to a text, this forces the parser's own path (the fast path is JSON.parse itself).
const LONG = "12345678901234567890";

/** `value` with every bigint turned into the double JSON.parse makes of it. */
function asDoubles(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(asDoubles);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDoubles(v)]));
  }
  return value;
}

/** JSON text with bigints written as integers, built without the code under test. */
function textOf(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "bigint") return v;
    marks.push(v.toString());
    return `\u0000big${marks.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? "");
}

/**
 * A double as it comes back from its JSON text: -0 is written `0`; an integer past 2^53 that
 * JSON.stringify writes without an exponent reads as that integer, exactly.
 */
function doubleAsRead(d: number): number | bigint {
  if (Object.is(d, -0)) return 0;
  return Number.isInteger(d) && !Number.isSafeInteger(d) && !String(d).includes("e") ? BigInt(d) : d;
}

/** Integers as the runtime should hold them: bigint exactly when outside the safe range. */
const integer = fc
  .bigInt({ min: -(2n ** 70n), max: 2n ** 70n })
  .map((n) => (n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n ? Number(n) : n));
const value = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    integer,
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(doubleAsRead),
    fc.string({ unit: "binary" }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value")),
    fc.dictionary(fc.string(), tie("value")),
  ),
})).value;

describe("parseJson", () => {
  it("reads what JSON.parse reads, on both of its paths", () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(asDoubles(parseJson(text))).toEqual(JSON.parse(text));
        // same values through the parser's own path; integers JSON.parse rounds are exact there
        const forced = parseJson(`[${text},${LONG}]`) as unknown[];
        expect(asDoubles(forced)).toEqual(JSON.parse(`[${text},${LONG}]`));
        expect(forced[1]).toBe(BigInt(LONG));
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps every integer exact: bigint outside the safe range, number inside", () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(parseJson(textOf(v))).toEqual(v);
        expect(parseJson(` \n${textOf([v, v])}\t`)).toEqual([v, v]);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses what JSON.parse refuses", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 12 }), fc.json(), (noise, text) => {
        for (const candidate of [`[${LONG},${noise}]`, `${text}${noise} ${LONG}`, `{${noise}:${LONG}}`]) {
          let native: unknown;
          try {
            native = JSON.parse(candidate);
          } catch {
            expect(() => parseJson(candidate)).toThrow(SyntaxError);
            continue;
          }
          expect(asDoubles(parseJson(candidate))).toEqual(native);
        }
      }),
      { numRuns: 2000 },
    );
    for (const bad of ["", "[1,]", "{\"a\" 1}", "01", "-", "1e", "\"\u0001\"", "[1] x", "nul", `[${LONG}`]) {
      expect(() => parseJson(`${bad}`), bad).toThrow(SyntaxError);
      expect(() => parseJson(`${bad},${LONG}`), bad).toThrow(SyntaxError);
    }
  });

  it("keeps the 2^53 boundary and the keys JSON.parse keeps", () => {
    expect(parseJson("[9007199254740991,9007199254740992,-9007199254740991,-9007199254740992]")).toEqual([
      9007199254740991,
      2n ** 53n,
      -9007199254740991,
      -(2n ** 53n),
    ]);
    expect(parseJson("[12345678901234567.0,1.2345678901234567e16,0.30000000000000004]")).toEqual([
      12345678901234567.0, 1.2345678901234567e16, 0.30000000000000004,
    ]);
    const odd = parseJson(`{"__proto__":${LONG},"a":"\\u00e9\\"","a":2}`) as Record<string, unknown>;
    expect(Object.getPrototypeOf(odd)).toBe(Object.prototype);
    expect(Object.keys(odd)).toEqual(["__proto__", "a"]);
    expect(odd["__proto__"]).toBe(BigInt(LONG));
    expect(odd["a"]).toBe(2);
  });
});

describe("stringifyJson", () => {
  it("writes what JSON.stringify writes, and bigints as their integers", () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(stringifyJson(v)).toBe(textOf(v));
      }),
      { numRuns: 2000 },
    );
    const date = new Date(0);
    const mixed = { a: undefined, b: [undefined, () => 1], c: date, d: new Number(3), e: 2n ** 64n };
    expect(stringifyJson(mixed)).toBe(`{"b":[null,null],"c":${JSON.stringify(date)},"d":3,"e":18446744073709551616}`);
  });
});
