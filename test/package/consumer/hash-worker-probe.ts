// Watches the package's SHA-256 worker thread from outside. Imported before the package (the
// first import of multipart.ts), it replaces `Worker` of `node:worker_threads` with a subclass
// that counts the workers started and the bytes the worker hashed: the views of every message
// posted to it (a digest, an update of a running hash) whose reply (same `id`, no `error`) came
// back from the worker thread. Bytes hashed by the calling-thread fallback never reach a worker,
// so they count nothing. The same in an ES module app and in a CommonJS app: the package (an ES
// module either way, loaded by `import` or by `require`) imports `Worker` from the built-in
// module, whose named exports `syncBuiltinESMExports()` brings up to date with the object
// patched here.
const threads = process.getBuiltinModule('node:worker_threads');
const { syncBuiltinESMExports } = process.getBuiltinModule('node:module');

let started = 0;
let hashedBytes = 0;

class ObservedWorker extends threads.Worker {
  /** Bytes of the messages posted and not answered yet, by message id. */
  private readonly posted = new Map<unknown, number>();

  constructor(...args: ConstructorParameters<typeof threads.Worker>) {
    super(...args);
    started++;
    // Added before the package's own listeners, which then unref the worker.
    this.on('message', (reply: { id?: unknown; error?: unknown }) => {
      const bytes = this.posted.get(reply?.id);
      this.posted.delete(reply?.id);
      if (bytes !== undefined && reply.error === undefined) hashedBytes += bytes;
    });
  }

  override postMessage(...args: Parameters<InstanceType<typeof threads.Worker>['postMessage']>) {
    const message = args[0] as Record<string, unknown> | undefined;
    const views = Object.values(message ?? {}).filter((v) => v instanceof Uint8Array);
    if (views.length > 0) {
      this.posted.set(
        message?.id,
        views.reduce((sum, view) => sum + view.byteLength, 0),
      );
    }
    super.postMessage(...args);
  }
}

Object.assign(threads, { Worker: ObservedWorker });
syncBuiltinESMExports();

/** The SHA-256 worker as seen from outside: workers started, bytes hashed on their thread. */
export const hashWorker = {
  started: () => started,
  hashedBytes: () => hashedBytes,
};
