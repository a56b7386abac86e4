/** The worker process of `worker-client.ts`: runs its rows' transfers, one request at a time. */
import { nodeHost } from './contenders.js';
import { rowById } from './rows.js';
import type { WorkerReply, WorkerRequest } from './worker-client.js';

const host = nodeHost();

// The orchestrator went away (crashed, or killed): do not linger.
process.on('disconnect', () => process.exit(0));

let queue = Promise.resolve();
process.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      if (request.op === 'run') reply = await host.run(rowById(request.row), request.job);
      else {
        await host.close();
        reply = { ok: true };
      }
    } catch (err) {
      reply = { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
    }
    process.send?.(reply, () => {
      if (request.op === 'close') process.exit(0);
    });
  });
});
