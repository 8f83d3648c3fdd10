// rxcdc client runtime: the React binding (React 18 and 19).
import { useSyncExternalStore } from "react";
import type { ChannelSnapshot, StateChannel } from "./channel";

const noSubscription = (): (() => void) => () => undefined;
const noSnapshot = (): null => null;

/**
 * The channel's state, status, error and runtime variables; re-renders on every change.
 *
 * Subscribing opens the socket; the last unsubscribe closes it after `linger` ms, so StrictMode's
 * mount, unmount, mount sequence keeps one connection. Create the channel once per parameters,
 * e.g. `useMemo(() => new RoomChannel(roomId), [roomId])`; pass null to render without one.
 */
export function useChannelState<S, R extends object>(
  channel: StateChannel<S, R>,
): ChannelSnapshot<S, R>;
export function useChannelState<S, R extends object>(
  channel: StateChannel<S, R> | null | undefined,
): ChannelSnapshot<S, R> | null;
export function useChannelState<S, R extends object>(
  channel: StateChannel<S, R> | null | undefined,
): ChannelSnapshot<S, R> | null {
  const subscribe = channel ? channel.subscribe : noSubscription;
  const getSnapshot = channel ? channel.getSnapshot : noSnapshot;
  return useSyncExternalStore<ChannelSnapshot<S, R> | null>(subscribe, getSnapshot, getSnapshot);
}
