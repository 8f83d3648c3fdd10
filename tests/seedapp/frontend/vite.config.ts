import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `app/...` resolves to src/app/... (tsconfig's paths), where RX_FRONTEND_DIR puts the
// generated files; VITE_SOCKET_URL comes from the environment at build time.
export default defineConfig({
  resolve: { alias: { app: fileURLToPath(new URL("./src/app", import.meta.url)) } },
  build: { outDir: "dist", emptyOutDir: true },
});
