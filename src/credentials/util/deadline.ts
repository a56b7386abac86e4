/**
 * An `AbortSignal` that fires after `ms`, with `clear()` to stop the timer once the guarded
 * step is over (so a finished call leaves no timer behind).
 */
export function deadline(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * An `AbortSignal` that fires `graceMs` after `signal` does: the bound of the clean-up a call
 * may still do once it was told to stop. `clear()` stops it.
 */
export function graceAfter(
  signal: AbortSignal,
  graceMs: number,
): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setTimeout(() => controller.abort(), graceMs);
    timer.unref();
  };
  if (signal.aborted) start();
  else signal.addEventListener('abort', start, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      signal.removeEventListener('abort', start);
      clearTimeout(timer);
    },
  };
}

/**
 * Resolves or rejects like `promise`, unless `signal` aborts first; then rejects with
 * `onAbort()`. The promise itself is not cancelled: pair this with a client-level timeout.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: () => Error,
): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
