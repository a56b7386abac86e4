/** The options of the mounted controller (`forRoot({ controller })`), normalized to an object. */
export const CREDENTIALS_CONTROLLER_OPTIONS = Symbol.for(
  'nest-credentials:CREDENTIALS_CONTROLLER_OPTIONS',
);

/** The streaming multipart parser (busboy), loaded once when the controller is mounted. */
export const MULTIPART_PARSER = Symbol.for('nest-credentials:MULTIPART_PARSER');

/** The environment variable (read through `ConfigService`) holding the controller's API token. */
export const API_TOKEN_ENV = 'CREDENTIALS_API_TOKEN';

/** A token shorter than this is refused at startup: it would be guessable. */
export const MIN_API_TOKEN_LENGTH = 16;

/** The multipart field that carries the ZIP, as estela's API names it. */
export const PROJECT_ZIP_FIELD = 'project_zip';

/** Seconds a client is told to wait (`Retry-After`) when storage or registry is unavailable. */
export const RETRY_AFTER_SECONDS = 5;
