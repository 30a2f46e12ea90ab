// A tiny reactive value (no extra library): components that read
// `.value` through `useSignal` re-render when it changes.
import { useEffect, useState } from 'preact/hooks';

export function signal(v) {
  const subs = new Set();
  return {
    get value() { return v; },
    set value(n) { v = n; subs.forEach((f) => f(n)); },
    subscribe(f) { subs.add(f); return () => subs.delete(f); },
  };
}

export function useSignal(s) {
  const [, set] = useState(0);
  useEffect(() => s.subscribe(() => set((x) => x + 1)), [s]);
  return s.value;
}

/** The signed-in user: {who, role, tenant} or null. */
export const me = signal(undefined);
/** A message for everyone to see (errors, confirmations). */
export const toast = signal(null);
export function say(text, kind = 'ok') {
  toast.value = { text, kind, at: Date.now() };
}
