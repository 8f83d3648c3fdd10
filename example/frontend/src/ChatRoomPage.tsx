// A chat room: the generated ChatRoomChannel, its live state, and its post_message action.
import { useMemo, useState, type FormEvent } from "react";
import type { User } from "./auth";
import { channelOptions } from "./auth";
import { ChatRoomChannel } from "./rx/chat.channels";
import { useChannelState } from "./rx/rxcdc/react";
import { Status } from "./Status";

export function ChatRoomPage({ roomName, user }: { roomName: string; user: User }) {
  const channel = useMemo(() => new ChatRoomChannel(roomName, channelOptions()), [roomName]);
  const { state, status, reason } = useChannelState(channel);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState("");

  const send = async (event: FormEvent) => {
    event.preventDefault();
    setText("");
    try {
      await channel.actions.postMessage(text); // the message itself arrives through the WAL
      setProblem("");
    } catch (err) {
      setText(text);
      setProblem(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <section className="chat">
      <h2>
        #{roomName} <Status status={status} reason={reason} />
      </h2>
      {state === null ? (
        <p className="muted">{reason === null ? "Loading…" : "Not loaded yet."}</p>
      ) : (
        <ul className="messages">
          {state.messages.map((message) => (
            <li
              key={message._pk}
              data-message-id={message._pk}
              className={message.author?.id === user.id ? "mine" : ""}
            >
              <b>{message.author?.username ?? "someone"}</b>
              <span className="text">{message.text}</span>
              <time dateTime={message.created}>{new Date(message.created).toLocaleTimeString()}</time>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={send} className="row">
        <input
          name="message"
          value={text}
          onChange={(event) => setText(event.target.value)}
          placeholder={`Message #${roomName}`}
          autoComplete="off"
        />
        <button type="submit" disabled={!text.trim()}>
          Send
        </button>
      </form>
      {problem && <p className="error">{problem}</p>}
    </section>
  );
}
