import {
  type CanActivate,
  type DynamicModule,
  type FactoryProvider,
  type Type,
  UseGuards,
} from '@nestjs/common';
import type { CredentialsControllerOptions } from '../credentials.options.js';
import { CredentialsConfigError } from '../errors.js';
import { ApiTokenGuard } from './api-token.guard.js';
import { CREDENTIALS_CONTROLLER_OPTIONS, MULTIPART_PARSER } from './credentials-http.constants.js';
import { FastifySupport } from './fastify-support.js';
import { loadMultipartReader, type MultipartReader } from './multipart-project.js';
import { ProjectsController } from './projects.controller.js';
import { RegistryTokenController } from './registry-token.controller.js';

type Guard = Type<CanActivate> | CanActivate;

const multipartProvider: FactoryProvider<Promise<MultipartReader>> = {
  provide: MULTIPART_PARSER,
  useFactory: loadMultipartReader,
};

function isGuard(value: unknown): value is Guard {
  return (
    typeof value === 'function' ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as CanActivate).canActivate === 'function')
  );
}

function normalize(option: true | CredentialsControllerOptions): CredentialsControllerOptions {
  const options = option === true ? {} : option;
  if (typeof options !== 'object' || options === null) {
    throw new CredentialsConfigError('option controller must be true or an object');
  }
  const guards: unknown = options.guards ?? [];
  if (!Array.isArray(guards) || !guards.every(isGuard)) {
    throw new CredentialsConfigError(
      'option controller.guards must be a list of guard classes or instances (CanActivate)',
    );
  }
  return { ...options, guards };
}

/**
 * A subclass per mount, so that the guards of one `forRoot` never land on the shared class
 * (decorators write metadata onto the class they are applied to).
 */
function mounted<T extends Type<object>>(base: T, guards: Guard[]): T {
  const cls = class extends base {};
  Object.defineProperty(cls, 'name', { value: base.name });
  UseGuards(...guards)(cls);
  return cls;
}

/**
 * Adds the HTTP controller to the credentials module when `controller` asks for it. Access is
 * decided by the `guards` given, else by `ApiTokenGuard` (which, without a token, refuses to
 * start unless `allowAnonymous` is set).
 */
export function withController(
  definition: DynamicModule,
  option: boolean | CredentialsControllerOptions | undefined,
): DynamicModule {
  if (option === undefined || option === false) return definition;
  const options = normalize(option);
  const guards = options.guards?.length ? options.guards : [ApiTokenGuard];
  return {
    ...definition,
    controllers: [
      ...(definition.controllers ?? []),
      mounted(ProjectsController, guards),
      mounted(RegistryTokenController, guards),
    ],
    providers: [
      ...(definition.providers ?? []),
      { provide: CREDENTIALS_CONTROLLER_OPTIONS, useValue: options },
      multipartProvider,
      FastifySupport,
    ],
  };
}
