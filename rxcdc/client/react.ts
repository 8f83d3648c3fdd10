// rxcdc client runtime: the React binding (React 18 and 19).
import { useRef, useSyncExternalStore } from "react";
import type { ChannelSnapshot, StateChannel } from "./channel";

const noSubscription = (): (() => void) => () => undefined;
const noSnapshot = (): null => null;

/**
 * The channel's state, status, error and runtime variables; re-renders on every change.
 *
 * Subscribing opens the socket; the last unsubscribe closes it after `linger` ms, so StrictMode's
 * mount, unmount, mount sequence keeps one connection. A channel created on every render
 * (`new RoomChannel(roomId, token)` in the component) is replaced by the first one while it is
 * equal (`sameAs`: same class, URL and options), so it keeps one socket and its state, and the
 * new one forwards its actions and writes there (`follow`); pass null to render without one.
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
  const kept = useRef(channel);
  if (channel && kept.current && channel !== kept.current && kept.current.sameAs(channel)) {
    channel.follow(kept.current); // its actions and writes reach the running one
    channel = kept.current;
  } else {
    kept.current = channel;
  }
  const subscribe = channel ? channel.subscribe : noSubscription;
  const getSnapshot = channel ? channel.getSnapshot : noSnapshot;
  return useSyncExternalStore<ChannelSnapshot<S, R> | null>(subscribe, getSnapshot, getSnapshot);
}
