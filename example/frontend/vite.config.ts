import { defineConfig } from "vite";

// `npm run build` writes dist/, which Django serves (project/views.py and project/urls.py).
// `npx vite` serves the sources with hot reload and forwards the API and sockets to daphne.
export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
});
