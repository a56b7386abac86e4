import { Inject } from '@nestjs/common';
import { CREDENTIALS_PROVIDER } from './credentials.constants.js';

/** Shorthand for `@Inject(CREDENTIALS_PROVIDER)`. */
export const InjectCredentials = (): PropertyDecorator & ParameterDecorator =>
  Inject(CREDENTIALS_PROVIDER);
