// Logging in, both ways the sockets can authenticate:
// - session: POST /api/login/ sets Django's session cookie, which every socket sends by itself;
// - token: POST /api/token/ returns a DRF token, kept in this tab only (sessionStorage) and sent
//   in each socket's `auth` frame. Two tabs can so be two different users side by side.
import type { ChannelOptions } from "./rx/rxcdc/index";

export type AuthMode = "session" | "token";

export interface User {
  readonly id: number;
  readonly username: string;
  readonly mode: AuthMode;
}

const TOKEN_KEY = "rxcdc-example-token";

function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Options for every channel: the token when this tab has one, else the session cookie. */
export function channelOptions(): ChannelOptions {
  return { token: storedToken };
}

function csrfToken(): string {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
  return match ? decodeURIComponent(match[1] ?? "") : "";
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
}

/** The signed-in user of this tab, or null. */
export async function whoAmI(): Promise<User | null> {
  const token = storedToken();
  const response = await fetch("/api/me/", {
    headers: token ? { Authorization: `Token ${token}` } : {},
  });
  if (!response.ok) return null;
  const user = (await response.json()) as { id: number; username: string };
  return { ...user, mode: token ? "token" : "session" };
}

export async function logIn(username: string, password: string, mode: AuthMode): Promise<User> {
  const response = await post(mode === "token" ? "/api/token/" : "/api/login/", {
    username,
    password,
  });
  const body = (await response.json()) as { id: number; username: string; token?: string; error?: string };
  if (!response.ok) throw new Error(body.error ?? `login failed (${response.status})`);
  if (mode === "token" && body.token) sessionStorage.setItem(TOKEN_KEY, body.token);
  return { id: body.id, username: body.username, mode };
}

export async function logOut(user: User): Promise<void> {
  if (user.mode === "token") sessionStorage.removeItem(TOKEN_KEY);
  else await post("/api/logout/", {});
}
