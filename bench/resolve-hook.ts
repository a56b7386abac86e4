/**
 * A module.register() resolve hook (runs on Node's loader thread) that appends the URL of every
 * module the ES module loader resolves to a file: the start-up benchmark's proof of which SDKs
 * a backend loads. CommonJS modules required from CommonJS are not seen here; the child adds
 * `require.cache` for those.
 */
import { appendFileSync } from 'node:fs';

let logFile: string | undefined;

export function initialize(data: { logFile: string }): void {
  logFile = data.logFile;
}

interface ResolveResult {
  url: string;
}

export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<ResolveResult>,
): Promise<ResolveResult> {
  const result = await next(specifier, context);
  if (logFile) appendFileSync(logFile, `${result.url}\n`);
  return result;
}
