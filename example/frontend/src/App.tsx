// The shell: who is signed in, the navigation, and the page for the current path.
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";
import { logOut, whoAmI, type User } from "./auth";
import { ChatRoomPage } from "./ChatRoomPage";
import { ChecklistPage } from "./ChecklistPage";
import { LoginPage } from "./LoginPage";
import { navigate, usePath } from "./router";

function Link({ to, children }: { to: string; children: ReactNode }) {
  const follow = (event: MouseEvent) => {
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={follow}>
      {children}
    </a>
  );
}

export function App() {
  const path = usePath();
  const [user, setUser] = useState<User | null | undefined>(undefined); // undefined: asking
  useEffect(() => {
    whoAmI().then(setUser, () => setUser(null));
  }, []);

  if (user === undefined) return <p className="muted">Loading…</p>;
  if (user === null) return <LoginPage onLogin={setUser} />;

  const room = path.match(/^\/chat\/([^/]+)\/?$/)?.[1];
  const signOut = async () => {
    await logOut(user);
    setUser(null);
  };
  return (
    <>
      <header>
        <strong>rxcdc example</strong>
        <nav>
          <Link to="/chat/lobby">#lobby</Link>
          <Link to="/chat/random">#random</Link>
          <Link to="/checklist">Checklist</Link>
        </nav>
        <span className="who" data-user={user.username}>
          {user.username} <small>({user.mode})</small>{" "}
          <button onClick={signOut}>Log out</button>
        </span>
      </header>
      <main>
        {room !== undefined ? (
          <ChatRoomPage key={room} roomName={decodeURIComponent(room)} user={user} />
        ) : path.startsWith("/checklist") ? (
          <ChecklistPage />
        ) : (
          <Home />
        )}
      </main>
    </>
  );
}

function Home() {
  return (
    <section>
      <h2>Pick a page</h2>
      <p>
        Chat rooms <Link to="/chat/lobby">#lobby</Link> and <Link to="/chat/random">#random</Link>,
        or your <Link to="/checklist">checklist</Link>. Open them in two windows, as two users, and
        change the database any way you like: the pages follow.
      </p>
    </section>
  );
}
