/**
 * Node contender rows that share a `process` run in one forked `transfer-worker.js`, so that each
 * contender has its own heap, garbage collector and sockets, as boto3 has in its Python process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Host, Job, Timing } from './contenders.js';
import type { ContenderRow } from './rows.js';

export type WorkerRequest = { op: 'run'; row: string; job: Job } | { op: 'close' };
export type WorkerReply = Partial<Timing> & { ok?: boolean; error?: string };

const WORKER = fileURLToPath(new URL('./transfer-worker.js', import.meta.url));

export class WorkerHost implements Host {
  private readonly child: ChildProcess;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting: ((reply: WorkerReply) => void)[] = [];
  private exited?: Error;

  constructor(name: string) {
    this.child = fork(WORKER, [name], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: WorkerReply) => this.waiting.shift()?.(reply));
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`transfer worker ${name} exited (${code ?? signal})`);
      for (const resolve of this.waiting.splice(0)) resolve({ error: this.exited.message });
    });
  }

  private request(request: WorkerRequest): Promise<WorkerReply> {
    const answer = this.queue.then(
      () =>
        new Promise<WorkerReply>((resolve, reject) => {
          if (this.exited) return reject(this.exited);
          this.waiting.push((reply) =>
            reply.error ? reject(new Error(reply.error)) : resolve(reply),
          );
          this.child.send(request);
        }),
    );
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  async run(row: ContenderRow, job: Job): Promise<Timing> {
    const reply = await this.request({ op: 'run', row: row.id, job });
    return { ms: reply.ms ?? Number.NaN, cpuMs: reply.cpuMs };
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.child.kill(), 10_000);
    await this.request({ op: 'close' }).catch(() => undefined);
    await exited;
    clearTimeout(timer);
  }
}
