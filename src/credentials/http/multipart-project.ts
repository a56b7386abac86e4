import { BadRequestException } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type BusboyFactory from 'busboy';
import { CredentialsConfigError } from '../errors.js';

/** Opens the file of one field of a `multipart/form-data` request as a stream. */
export interface MultipartReader {
  /**
   * Starts parsing `req`; `file` resolves with the stream of the first file sent in `field`
   * (other parts are read and thrown away) and rejects when the form ends without one or is
   * malformed. `fields` holds the text fields sent so far (those sent before the file are there
   * once `file` resolves). `abort()` stops parsing, for when the request is answered early.
   */
  open(
    req: IncomingMessage,
    field: string,
  ): { file: Promise<Readable>; fields: ReadonlyMap<string, string>; abort(): void };
}

/** A form has few parts besides the ZIP: bound them, so a crafted form cannot keep us busy. */
const FORM_LIMITS = { fields: 64, fieldSize: 64 * 1024, parts: 128, headerPairs: 64 };

/**
 * Loads busboy (an optional peer, needed only with the controller) and wraps it. Called when
 * the controller is mounted, so a missing package fails at startup, not on the first upload.
 */
export async function loadMultipartReader(): Promise<MultipartReader> {
  let busboy: typeof BusboyFactory;
  try {
    busboy = (await import('busboy')).default;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CredentialsConfigError(
        'option controller needs the optional package busboy (streaming multipart uploads): ' +
          'npm install busboy',
      );
    }
    throw err;
  }
  return {
    open(req, field) {
      let parser: BusboyFactory.Busboy;
      try {
        // busboy does not cap the file size: ProjectSizeLimit does, and fails rather than
        // truncating (busboy's own fileSize limit ends a cut file as if it were complete).
        parser = busboy({ headers: req.headers, limits: FORM_LIMITS });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        return {
          file: Promise.reject(new BadRequestException(`Invalid multipart request: ${reason}`)),
          fields: new Map(),
          abort: () => undefined,
        };
      }
      const fields = new Map<string, string>();
      parser.on('field', (name, value) => {
        if (!fields.has(name)) fields.set(name, value);
      });
      let found: Readable | undefined;
      const file = new Promise<Readable>((resolve, reject) => {
        parser.on('file', (name, stream) => {
          // Until the controller pipes it, a failing file stream must not be an uncaught error;
          // the failure still reaches the backend: limitedBody() checks `errored`.
          stream.on('error', () => undefined);
          if (name === field && found === undefined) {
            found = stream;
            resolve(stream);
          } else {
            stream.resume();
          }
        });
        parser.on('error', (err: unknown) => {
          const reason = err instanceof Error ? err.message : String(err);
          const error = new BadRequestException(`Invalid multipart request: ${reason}`);
          // Once the file is out, its stream carries the failure to the backend.
          if (found) found.destroy(error);
          else reject(error);
        });
        parser.on('close', () =>
          reject(new BadRequestException(`The multipart form has no file field "${field}"`)),
        );
      });
      req.pipe(parser);
      return {
        file,
        fields,
        abort() {
          req.unpipe(parser);
          parser.destroy();
        },
      };
    },
  };
}
