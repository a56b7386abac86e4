import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  Optional,
  UnauthorizedException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { CredentialsControllerOptions } from '../credentials.options.js';
import { CredentialsConfigError } from '../errors.js';
import {
  API_TOKEN_ENV,
  CREDENTIALS_CONTROLLER_OPTIONS,
  MIN_API_TOKEN_LENGTH,
} from './credentials-http.constants.js';
import { nodeResponseOf, type PlatformResponse } from './http-platform.js';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/**
 * Lets a request through when it carries `Authorization: Bearer <CREDENTIALS_API_TOKEN>`.
 * The token is read once, through `ConfigService`; a missing one fails at startup unless the
 * controller was mounted with `allowAnonymous: true`, and a configured one is always required.
 */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  /** SHA-256 of the token: comparing fixed-length digests leaks neither content nor length. */
  readonly #digest: Buffer | undefined;

  constructor(
    config: ConfigService,
    @Optional()
    @Inject(CREDENTIALS_CONTROLLER_OPTIONS)
    options?: CredentialsControllerOptions,
  ) {
    const raw = config.get<unknown>(API_TOKEN_ENV);
    const token = raw === undefined || raw === null ? '' : String(raw).trim();
    if (token === '') {
      if (options?.allowAnonymous) {
        this.#digest = undefined;
        return;
      }
      throw new CredentialsConfigError(
        `${API_TOKEN_ENV} is not set: the credentials controller needs it (clients then send ` +
          '"Authorization: Bearer <token>"), or the controller option guards, or ' +
          'allowAnonymous: true for a trusted network',
      );
    }
    if (token.length < MIN_API_TOKEN_LENGTH) {
      throw new CredentialsConfigError(
        `${API_TOKEN_ENV} must be at least ${MIN_API_TOKEN_LENGTH} characters long ` +
          '(for example: openssl rand -hex 32)',
      );
    }
    this.#digest = sha256(token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.#digest === undefined) return true;
    const http = context.switchToHttp();
    // `headers` is the Node request's on Express and Fastify alike.
    const header = http.getRequest<{ headers: IncomingHttpHeaders }>().headers.authorization ?? '';
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (match && timingSafeEqual(sha256(match[1]), this.#digest)) return true;
    // On the Node response: the error filter answers through it.
    nodeResponseOf(http.getResponse<PlatformResponse>()).setHeader(
      'WWW-Authenticate',
      'Bearer realm="nest-credentials"',
    );
    throw new UnauthorizedException(
      match
        ? 'The API token is not valid'
        : 'Send the API token as "Authorization: Bearer <token>"',
    );
  }
}
