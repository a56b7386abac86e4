/**
 * A child process hosting Node contenders of the transfer benchmark, so that each contender
 * runs in a process of its own (its heap, GC and sockets are not shared with the others), as
 * the boto3 contender does. Driven over IPC by `worker-client.ts`:
 *
 *   { op: 'init', instances: [{ name, kind, backend?, options? }] } -> { ok }
 *   { op: 'upload', instance, file, key }   -> Timing (ms, cpuMs, spoolMs, sendMs, spoolGc)
 *   { op: 'download', instance, key, sink } -> Timing (ms, cpuMs)
 *   { op: 'close' }                          -> { ok }, then exits
 */
import type { CredentialsModuleOptions } from '../src/credentials/index.js';
import type { Backend } from './common.js';
import {
  type Contender,
  type Timing,
  moduleContender,
  rawAwsContender,
  rawMinioContender,
} from './contenders.js';
import { instrumentSteps, resetStepTimes, spoolGc, stepTimes } from './steps.js';

export interface InstanceSpec {
  name: string;
  kind: 'module' | 'raw';
  backend: Backend;
  options?: CredentialsModuleOptions;
}

export type WorkerRequest =
  | { op: 'init'; instances: InstanceSpec[] }
  | { op: 'upload'; instance: string; file: string; key: string }
  | { op: 'download'; instance: string; key: string; sink: string }
  | { op: 'close' };

export interface WorkerReply extends Partial<Timing> {
  ok?: boolean;
  error?: string;
}

const instances = new Map<string, { spec: InstanceSpec; contender: Contender }>();

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case 'init':
      instrumentSteps();
      for (const spec of request.instances) {
        const contender =
          spec.kind === 'module'
            ? await moduleContender(spec.backend, spec.options)
            : spec.backend === 'aws'
              ? rawAwsContender()
              : rawMinioContender();
        instances.set(spec.name, { spec, contender });
      }
      return { ok: true };
    case 'upload': {
      const { contender } = lookup(request.instance);
      resetStepTimes();
      const timing = await contender.upload(request.file, request.key);
      return {
        ...timing,
        spoolMs: stepTimes.spoolMs,
        sendMs: stepTimes.sendMs,
        spoolGc: await spoolGc(),
      };
    }
    case 'download':
      return lookup(request.instance).contender.download(request.key, request.sink);
    case 'close':
      for (const { contender } of instances.values()) await contender.close();
      instances.clear();
      return { ok: true };
  }
}

function lookup(name: string) {
  const found = instances.get(name);
  if (!found) throw new Error(`no instance ${name}`);
  return found;
}

// The orchestrator went away (crashed, or killed): do not linger.
process.on('disconnect', () => process.exit(0));

let queue = Promise.resolve();
process.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    let reply: WorkerReply;
    try {
      reply = await handle(request);
    } catch (err) {
      reply = { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
    }
    process.send?.(reply, () => {
      if (request.op === 'close') process.exit(0);
    });
  });
});
