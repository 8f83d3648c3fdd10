import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The runtime lives in ../rxcdc/client (shipped inside the Python package), outside this folder:
// point its bare `react` imports at this folder's node_modules so tests share one React.
const modules = fileURLToPath(new URL("./node_modules/", import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^react$/, replacement: `${modules}react/index.js` },
      { find: /^react\/(.*)$/, replacement: `${modules}react/$1` },
    ],
  },
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    environment: "node",
  },
});
