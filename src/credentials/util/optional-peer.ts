import { CredentialsConfigError } from '../errors.js';

/**
 * Loads the adapter of a backend, and with it the backend's optional peer packages, only when
 * that backend is chosen. A missing peer is a clear configuration error, not a stack trace.
 */
export async function loadAdapter<T>(
  backend: string,
  peers: readonly string[],
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CredentialsConfigError(
        `CREDENTIALS is "${backend}", which needs the optional packages ${peers.join(', ')}: ` +
          `npm install ${peers.join(' ')}`,
      );
    }
    throw err;
  }
}
