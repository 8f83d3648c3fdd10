// What Vite's React template declares (vite/client), plus the quickstart's VITE_SOCKET_URL.
/// <reference types="vite/client" />
interface ImportMetaEnv {
  readonly VITE_SOCKET_URL: string;
}
