// Mounts the quickstart's component for ?room=<name>&token=<DRF token>.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ChatRoom } from "./ChatRoom";

const query = new URLSearchParams(location.search);
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ChatRoom roomName={query.get("room") ?? ""} token={query.get("token") ?? ""} />
  </StrictMode>,
);
