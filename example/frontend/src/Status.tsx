// The channel's connection status, as a small badge.
import type { Status as ChannelStatus } from "./rx/rxcdc/index";

export function Status({ status }: { status: ChannelStatus }) {
  return (
    <span className={`status status-${status}`} data-status={status}>
      {status}
    </span>
  );
}
