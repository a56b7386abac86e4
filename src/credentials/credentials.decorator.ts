import { Inject } from '@nestjs/common';
import { getCredentialsToken } from './credentials.constants.js';

/**
 * Shorthand for `@Inject(CREDENTIALS_PROVIDER)`; with a name, injects the instance registered
 * with `forRoot({ name })` (`@Inject(getCredentialsToken(name))`).
 */
export const InjectCredentials = (name?: string): PropertyDecorator & ParameterDecorator =>
  Inject(getCredentialsToken(name));
