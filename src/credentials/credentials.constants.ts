/** The injection token bound to the chosen backend (a `Credentials` instance). */
export const CREDENTIALS_PROVIDER = Symbol.for('nest-credentials:CREDENTIALS_PROVIDER');

/**
 * The injection token of a credentials instance: `CREDENTIALS_PROVIDER` for the default one
 * (no name), a token of its own for each instance registered with `forRoot({ name })`.
 */
export function getCredentialsToken(name?: string): symbol {
  return name === undefined
    ? CREDENTIALS_PROVIDER
    : Symbol.for(`nest-credentials:CREDENTIALS_PROVIDER:${name}`);
}

/** The environment variable (read through `ConfigService`) that names the backend. */
export const CREDENTIALS_ENV = 'CREDENTIALS';
