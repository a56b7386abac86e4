/**
 * Where a module upload spends this process's time: boots the module, warms it up, then takes
 * a V8 CPU profile (the same as `node --cpu-prof`) of one upload of `file` only, and prints one
 * JSON line summarising its self time by function and by category.
 *
 * argv: JSON { backend, file, key }
 */
import { Session } from 'node:inspector';
import { type Backend, dataFile, MiB, now } from './common.js';
import { moduleContender } from './contenders.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  backend: Backend;
  ms: number;
  cpuMs: number;
  sampledMs: number;
  categories: Record<string, number>;
  top: { name: string; ms: number }[];
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

/** Self time not spent on the upload: the inspector serialising the profile at Profiler.stop. */
const EXCLUDED = 'excluded';

function category(frame: ProfileNode['callFrame']): string {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(idle)') return 'idle (waiting for the server)';
  if (!url && name === 'dispatch') return EXCLUDED;
  if (url.includes('internal/crypto/hash') || (!url && ['update', 'digest'].includes(name))) {
    return 'SHA-256';
  }
  if (url.includes('internal/async_hooks')) return 'async hooks (AsyncLocalStorage)';
  if (name === '_copyActual' || url.endsWith('node:buffer')) return 'buffer copies';
  if (!url && ['read', 'writev', 'write', 'writeBuffer', 'close'].includes(name)) {
    return 'file and socket I/O calls';
  }
  if (name === '(program)') return 'V8 / native, unattributed';
  return 'other JavaScript';
}

const job = JSON.parse(process.argv[2]) as {
  backend: Backend;
  file: string;
  key: string;
};
const contender = await moduleContender(job.backend);
try {
  await contender.upload(dataFile(MiB), `${job.key}.warm`);
  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 1000 });
  await post(session, 'Profiler.start');
  const started = now();
  const timing = await contender.upload(job.file, job.key);
  const ms = now() - started;
  const { profile } = await post<{ profile: Profile }>(session, 'Profiler.stop');
  session.disconnect();

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
  );
  const categories: Record<string, number> = {};
  const functions = new Map<string, number>();
  let sampled = 0;
  for (const [id, us] of self) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const cat = category(frame);
    if (cat === EXCLUDED) continue;
    categories[cat] = (categories[cat] ?? 0) + us / 1000;
    const where = frame.url
      ? ` ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber}`
      : '';
    const name = `${frame.functionName || '(anonymous)'}${where}`;
    functions.set(name, (functions.get(name) ?? 0) + us / 1000);
    sampled += us / 1000;
  }
  const top = [...functions]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([name, fnMs]) => ({ name, ms: fnMs }));
  const summary: ProfileSummary = {
    backend: job.backend,
    ms,
    cpuMs: timing.cpuMs ?? Number.NaN,
    sampledMs: sampled,
    categories,
    top,
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
} finally {
  await contender.close();
}
