// The generated channels module outside Vite (plain Node): argv[2] holds tsc's output.
// A fake WebSocket records the URL and the first frame the channel sends.
const out = process.argv[2];
const urls = [];
let sent;
const firstFrame = new Promise((resolve) => (sent = resolve));
globalThis.WebSocket = class {
  constructor(url) {
    urls.push(url);
    queueMicrotask(() => this.onopen?.());
  }
  send(data) {
    sent(data);
  }
  close() {}
};

const result = {};
// RX_WEBSOCKET_URL = "import.meta.env.VITE_SOCKET_URL": loads, and a URL passed is enough
const vite = await import(`${out}/vite/chat.channels.js`);
new vite.ChatRoomChannel("lobby", { url: "ws://example.test/" });
result.withUrl = "ok";
try {
  new vite.ChatRoomChannel("lobby", "tok");
  result.withoutUrl = "no error";
} catch (error) {
  result.withoutUrl = String(error.message);
}
// RX_WEBSOCKET_URL = "ws://example.test/": a token string as the second argument
const literal = await import(`${out}/literal/chat.channels.js`);
const channel = new literal.ChatRoomChannel("a b", "tok");
channel.connect();
result.frame = JSON.parse(await firstFrame);
result.url = urls.at(-1);
channel.close();
console.log(JSON.stringify(result));
