/** The injection token bound to the chosen backend (a `Credentials` instance). */
export const CREDENTIALS_PROVIDER = Symbol.for('nest-credentials:CREDENTIALS_PROVIDER');

/** The environment variable (read through `ConfigService`) that names the backend. */
export const CREDENTIALS_ENV = 'CREDENTIALS';
