// Drives Debian's Chromium through playwright-core for the Python tests (tests/e2e/browser.py).
//
// One JSON request per stdin line: {"id", "op", "page", "args"}; one JSON answer per stdout line:
// {"id", "ok": true, "result"} or {"id", "ok": false, "error"}. Each page gets its own browser
// context (its own cookies and sessionStorage: a separate "browser"). Every page records the
// websocket frames it receives, so a test can check what reached the wire, not only the DOM.
//
// Usage: node bridge.mjs <dir containing node_modules/playwright-core>
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import path from "node:path";

const require = createRequire(path.join(process.argv[2], "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.RXCDC_CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});

const pages = new Map(); // name → {context, page, frames: string[], console: string[]}

function fn(source) {
  // A function's source text from Python, turned into a function playwright can serialize.
  return new Function(`return (${source});`)();
}

function get(name) {
  const entry = pages.get(name);
  if (!entry) throw new Error(`no page named ${name}`);
  return entry;
}

const ops = {
  async newPage(name, viewport) {
    const context = await browser.newContext({ viewport: viewport ?? { width: 720, height: 640 } });
    const page = await context.newPage();
    const entry = { context, page, frames: [], console: [] };
    page.on("websocket", (ws) => {
      ws.on("framereceived", (frame) => entry.frames.push(String(frame.payload)));
    });
    page.on("console", (msg) => entry.console.push(`${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (error) => entry.console.push(`pageerror: ${error.message}`));
    pages.set(name, entry);
    return null;
  },
  async goto(name, url) {
    await get(name).page.goto(url);
    return null;
  },
  async fill(name, selector, value) {
    await get(name).page.fill(selector, value);
    return null;
  },
  async click(name, selector) {
    await get(name).page.click(selector);
    return null;
  },
  async check(name, selector) {
    await get(name).page.check(selector);
    return null;
  },
  async press(name, selector, key) {
    await get(name).page.press(selector, key);
    return null;
  },
  async evaluate(name, source, arg) {
    return await get(name).page.evaluate(fn(source), arg);
  },
  async waitFor(name, source, arg, timeout) {
    // Polls in the page on every animation frame until the function returns a truthy value.
    const handle = await get(name).page.waitForFunction(fn(source), arg, { timeout });
    const value = await handle.jsonValue();
    await handle.dispose();
    return value;
  },
  async screenshot(name, file, fullPage) {
    await get(name).page.screenshot({ path: file, fullPage: Boolean(fullPage) });
    return file;
  },
  async setContent(name, html) {
    await get(name).page.setContent(html, { waitUntil: "load" });
    return null;
  },
  async frames(name) {
    return get(name).frames;
  },
  async console(name) {
    return get(name).console;
  },
  async closePage(name) {
    const entry = pages.get(name);
    pages.delete(name);
    if (entry) await entry.context.close();
    return null;
  },
  async pageNames() {
    return [...pages.keys()];
  },
};

function answer(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

answer({ id: 0, ok: true, result: { version: browser.version() } });

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { id, op, args } = JSON.parse(line);
  try {
    if (!(op in ops)) throw new Error(`unknown op ${op}`);
    answer({ id, ok: true, result: (await ops[op](...(args ?? []))) ?? null });
  } catch (error) {
    answer({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}
await browser.close();
