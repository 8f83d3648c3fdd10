// Sign in with the session cookie or with a DRF token (this tab only).
import { useState, type FormEvent } from "react";
import { logIn, type AuthMode, type User } from "./auth";

export function LoginPage({ onLogin }: { onLogin: (user: User) => void }) {
  const [mode, setMode] = useState<AuthMode>("session");
  const [problem, setProblem] = useState("");

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    try {
      onLogin(await logIn(String(form.get("username")), String(form.get("password")), mode));
    } catch (error) {
      setProblem(error instanceof Error ? error.message : String(error));
    }
  };

  return (
    <form className="login" onSubmit={submit}>
      <h2>Log in</h2>
      <label>
        Username <input name="username" autoComplete="username" required />
      </label>
      <label>
        Password <input name="password" type="password" autoComplete="current-password" required />
      </label>
      <fieldset>
        <label>
          <input type="radio" name="mode" checked={mode === "session"} onChange={() => setMode("session")} />
          Session cookie (every tab)
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === "token"} onChange={() => setMode("token")} />
          API token (this tab only)
        </label>
      </fieldset>
      <button type="submit">Log in</button>
      {problem && <p className="error">{problem}</p>}
      <p className="muted">Demo users: alice / wonderland, bob / builder.</p>
    </form>
  );
}
