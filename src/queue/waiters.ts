/**
 * Waiting for a partition to get items: a waiter is a callback in the partition's set, woken by
 * the next append (or by close). An abort resolves the wait too and removes the waiter, so an
 * idle forwarder that stops leaves nothing behind.
 */
export function waitForWake(waiters: Set<() => void>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const onAbort = (): void => {
      waiters.delete(wake);
      resolve();
    };
    const wake = (): void => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    };
    waiters.add(wake);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
