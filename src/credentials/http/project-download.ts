import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { projectSizeOf } from '../project/project-stream.js';
import { sendHttpError, toHttpError } from './http-error.js';

/**
 * Resolves once `res` can take more data, has closed (the client went away), or the source
 * ended early (its idle deadline passed while the client was not reading): the loop then meets
 * the source's error and cuts the connection.
 */
function drained(res: ServerResponse, source: Readable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      source.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    source.on('close', done);
  });
}

/**
 * Streams a project ZIP to the client. The last chunk is held back until the source has ended
 * without error: the integrity check (SHA-256, size) only fails at the very end, and a body
 * that already reached its Content-Length would look complete. On a failure after the headers
 * left, the connection is destroyed, so the client sees a truncated transfer, never a 200 with
 * wrong bytes. Before that, the failure is answered as JSON like any other error.
 */
export async function sendProject(
  req: IncomingMessage,
  res: ServerResponse,
  source: Readable,
  fileName: string,
): Promise<{ error?: unknown }> {
  const size = projectSizeOf(source);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/zip');
  res.setHeader('Content-Disposition', `attachment; filename="${fileName}"`);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (size !== undefined) res.setHeader('Content-Length', size);
  if (req.method === 'HEAD') {
    source.destroy();
    res.end();
    return {};
  }
  let held: Buffer | undefined;
  try {
    // Leaving the loop early (client gone, or an error) destroys the source: its connection
    // to the store is freed.
    for await (const chunk of source) {
      if (res.destroyed) break;
      if (held !== undefined && !res.write(held)) await drained(res, source);
      held = chunk as Buffer;
    }
    if (!res.destroyed) res.end(held);
    return {};
  } catch (err) {
    if (!res.headersSent) {
      for (const name of ['Content-Disposition', 'Content-Length', 'X-Content-Type-Options']) {
        res.removeHeader(name);
      }
    }
    sendHttpError(req, res, toHttpError(err));
    return { error: err };
  }
}
