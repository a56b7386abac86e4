import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, evaluated as a CommonJS script (so that it needs no file of its own in
 * either build). It keeps running hashes by id and answers each message with its id.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const running = new Map();
parentPort.on('message', ({ id, op, view, hash }) => {
  try {
    if (op === 'digest') {
      parentPort.postMessage({ id, hex: createHash('sha256').update(view).digest('hex') });
    } else if (op === 'update') {
      let h = running.get(hash);
      if (!h) running.set(hash, (h = createHash('sha256')));
      h.update(view);
      parentPort.postMessage({ id });
    } else if (op === 'end') {
      const h = running.get(hash);
      if (!h) throw new Error('no running hash ' + hash);
      running.delete(hash);
      parentPort.postMessage({ id, hex: h.digest('hex') });
    } else if (op === 'drop') {
      running.delete(hash);
    }
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
`;

interface Reply {
  id: number;
  hex?: string;
  error?: string;
}

/** Whether `view` lies in memory shared between threads (which the worker reads in place). */
export const isShared = (view: Uint8Array): boolean => view.buffer instanceof SharedArrayBuffer;

/** A part-sized buffer in shared memory: SHA-256 of its bytes can be taken off the main thread. */
export const sharedBuffer = (size: number): Buffer => Buffer.from(new SharedArrayBuffer(size));

const sha256Hex = (view: Uint8Array): string => createHash('sha256').update(view).digest('hex');

/**
 * SHA-256 on a thread of its own for bytes in shared memory (the parts of an upload), so that
 * the main thread goes on reading the body and feeding sockets while a part is hashed (measured:
 * docs/BENCHMARKS.md). Other bytes are hashed on the calling thread: posting them would copy
 * them. The worker starts on first use, is referenced only while it has work (an idle one never
 * keeps the process alive), and is replaced if it dies.
 */
export class Sha256Worker {
  private worker?: Worker;
  /** Counts the workers started: a running hash is lost with the worker that held it. */
  private started_ = 0;
  private unavailable = false;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();

  constructor(
    private readonly spawn: (source: string) => Worker = (source) =>
      new Worker(source, { eval: true, name: 'nest-credentials-sha256' }),
  ) {}

  /** The SHA-256 (hex) of `view`; on the calling thread if the worker cannot be used. */
  async digest(view: Uint8Array): Promise<string> {
    if (!isShared(view) || !this.usable()) return sha256Hex(view);
    try {
      return (await this.call({ op: 'digest', view })).hex as string;
    } catch {
      return sha256Hex(view); // the worker died: the bytes are still here
    }
  }

  /** A SHA-256 over bytes given in order (see `RunningSha256`). */
  running(): RunningSha256 {
    return new RunningSha256(this, this.nextId++);
  }

  /** Stops the worker (its pending calls reject); the next call starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /**
   * Whether a worker runs or can be started (where threads cannot be, e.g. a sandbox without
   * `worker_threads`, everything is hashed on the calling thread).
   */
  usable(): boolean {
    if (this.unavailable) return false;
    try {
      this.started();
      return true;
    } catch {
      this.unavailable = true;
      return false;
    }
  }

  /** @internal Which worker serves the next call (a new one after a worker died). */
  get generation(): number {
    return this.worker ? this.started_ : this.started_ + 1;
  }

  /** @internal Posts one message; resolves with its reply. */
  call(message: { op: string; view?: Uint8Array; hash?: number }): Promise<Reply> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...message });
    }).then((reply) => {
      if (reply.error !== undefined) throw new Error(`SHA-256 worker: ${reply.error}`);
      return reply;
    });
  }

  /** @internal Posts a message that has no reply. */
  post(message: { op: string; hash: number }): void {
    this.worker?.postMessage({ id: 0, ...message });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = this.spawn(WORKER_SOURCE);
    this.started_++;
    worker.on('message', (reply: Reply) => {
      const call = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      call?.resolve(reply);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const call of this.waiting.values()) call.reject(error);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the SHA-256 worker exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

/**
 * A SHA-256 over bytes given in order: in the worker when the first bytes are shared (each
 * `update` resolves once the worker has read them, so that their buffer may be refilled), else
 * on the calling thread. Bytes of the other kind that follow are still hashed in order.
 * `dispose()` releases the worker's state of a hash that will not be finished.
 */
export class RunningSha256 {
  private local?: Hash;
  /** The worker holding this hash (its generation), once it has been given bytes. */
  private remote?: number;
  private disposed = false;
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly worker: Sha256Worker,
    private readonly id: number,
  ) {}

  update(view: Uint8Array): Promise<void> {
    if (this.local === undefined && this.remote === undefined) {
      if (isShared(view) && this.worker.usable()) this.remote = this.worker.generation;
      else this.local = createHash('sha256');
    }
    if (this.local) {
      this.local.update(view);
      return Promise.resolve();
    }
    // Only the view's own bytes: posting a view of an unshared buffer would copy all of it.
    const bytes = isShared(view) ? view : Uint8Array.prototype.slice.call(view);
    const read = this.held().then(() =>
      this.worker.call({ op: 'update', view: bytes, hash: this.id }),
    );
    this.last = read;
    return read.then(() => undefined);
  }

  async digest(): Promise<string> {
    if (this.remote === undefined) return (this.local ?? createHash('sha256')).digest('hex');
    await this.last;
    await this.held();
    return (await this.worker.call({ op: 'end', hash: this.id })).hex as string;
  }

  dispose(): void {
    this.disposed = true;
    if (this.remote !== undefined) this.worker.post({ op: 'drop', hash: this.id });
  }

  /** Rejects when the worker that held this hash is gone (its bytes cannot be hashed again). */
  private async held(): Promise<void> {
    if (this.disposed) throw new Error('the running SHA-256 was disposed of');
    if (this.worker.generation !== this.remote) {
      throw new Error('the SHA-256 worker exited, and the running hash with it');
    }
  }
}

/** The process's SHA-256 worker, shared by every upload. */
export const sha256Worker = new Sha256Worker();
