/** The orchestrator's side of `transfer-worker.ts`: one forked process, requests in order. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Contender, Timing } from './contenders.js';
import type { InstanceSpec, WorkerReply, WorkerRequest } from './transfer-worker.js';

const WORKER = fileURLToPath(new URL('./transfer-worker.js', import.meta.url));

export class TransferWorker {
  private readonly child: ChildProcess;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly replies: ((reply: WorkerReply) => void)[] = [];
  private exited?: Error;

  constructor(label: string) {
    this.child = fork(WORKER, [label], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: WorkerReply) => this.replies.shift()?.(reply));
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`transfer worker ${label} exited (${code ?? signal})`);
      for (const resolve of this.replies.splice(0)) resolve({ error: this.exited.message });
    });
  }

  request(request: WorkerRequest): Promise<WorkerReply> {
    const answer = this.queue.then(
      () =>
        new Promise<WorkerReply>((resolve, reject) => {
          if (this.exited) return reject(this.exited);
          this.replies.push((reply) =>
            reply.error ? reject(new Error(reply.error)) : resolve(reply),
          );
          this.child.send(request);
        }),
    );
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  async init(instances: InstanceSpec[]): Promise<void> {
    await this.request({ op: 'init', instances });
  }

  async upload(instance: string, file: string, key: string): Promise<Timing> {
    return timingOf(await this.request({ op: 'upload', instance, file, key }));
  }

  async download(instance: string, key: string, sink: string): Promise<Timing> {
    return timingOf(await this.request({ op: 'download', instance, key, sink }));
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill(), 10_000);
    try {
      await this.request({ op: 'close' }).catch(() => undefined);
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A Contender facade over one instance of this worker (closing it closes the worker). */
  contender(instance: string, id: string, label: string): Contender {
    return {
      id,
      label,
      upload: (file, key) => this.upload(instance, file, key),
      download: (key, sink) => this.download(instance, key, sink),
      close: () => this.close(),
    };
  }
}

function timingOf(reply: WorkerReply): Timing {
  return {
    ms: reply.ms ?? Number.NaN,
    cpuMs: reply.cpuMs,
    spoolMs: reply.spoolMs,
    sendMs: reply.sendMs,
    spoolGc: reply.spoolGc,
  };
}
