// The seeds' quickstart (RxDjango's README), its TypeScript as written but for the import path
// of useChannelState ('django-react' there: where RX_FRONTEND_DIR puts the generated runtime)
// and `const` for the two names it assigns, inside the component that renders the state.
import { ChatRoomChannel } from 'app/modules/chat.channels';
import { useChannelState } from 'app/modules/rxcdc/react';

export function ChatRoom({ roomName, token }: { roomName: string; token: string }) {
  const channel = new ChatRoomChannel(roomName, token);
  const chatState = useChannelState(channel);

  return (
    <section>
      <h1>
        {roomName}{" "}
        <span data-status={chatState.status} data-reason={chatState.reason ?? ""}>
          {chatState.status}
        </span>
      </h1>
      <ul>
        {chatState.state?.messages.map((message) => (
          <li key={String(message._pk)} data-message-id={String(message._pk)}>
            {message.text}
          </li>
        ))}
      </ul>
    </section>
  );
}
