// The channel's connection status and why it is not live, as a small badge that stays put.
import type { Status as ChannelStatus } from "./rx/rxcdc/index";

// What a reader needs to know, by the reason the channel gives (ChannelSnapshot.reason).
const REASONS: Readonly<Record<string, string>> = {
  worker_down: "the replication worker is down: changes resume when it is back",
  worker_unavailable: "the replication worker does not answer",
  disconnected: "connection lost",
  timeout: "the server stopped answering",
  lost: "a message went missing: catching up",
  snapshot_failed: "the server could not load this page's data",
  unauthenticated: "log in again",
  forbidden: "you may not see this",
  bad_origin: "this page's address is not allowed by the server",
  not_found: "it does not exist",
  protocol: "the page is out of date: reload it",
};

export function Status({ status, reason }: { status: ChannelStatus; reason: string | null }) {
  const why = reason === null ? null : (REASONS[reason] ?? reason);
  return (
    <span className={`status status-${status}`} data-status={status} data-reason={reason ?? ""}>
      {status === "stale" ? "worker down" : status}
      {why !== null && <span className="reason">: {why}</span>}
    </span>
  );
}
