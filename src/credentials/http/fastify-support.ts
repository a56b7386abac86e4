import { Injectable, type OnModuleInit, SetMetadata } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { RedactingLogger } from '../util/redact.js';

/** The longest project name (see `assertProjectName`). */
const MAX_PROJECT_NAME_LENGTH = 255;

/**
 * Fastify answers 415 to a body of a content type it has no parser for (`application/zip`,
 * `multipart/form-data`, none at all for `curl -T`), before any handler runs, and its parsers
 * buffer bodies up to `bodyLimit` (1 MiB). The controller reads its upload bodies itself, as
 * streams, under its own `maxProjectSize`. So, on Fastify only, the module adds a catch-all
 * content-type parser that leaves the body unread on the controller's upload routes, and that
 * answers every other route as Fastify does without it: the app's own routes keep Fastify's
 * rules. Content types the app has parsers for (JSON, text, forms) are still parsed by them,
 * as on Express, and the controller refuses the body then (415).
 */

/** The flag, in Fastify's route `config`, of a route whose handler reads the body itself. */
export const RAW_BODY_ROUTE = 'nestCredentialsRawBody';

/**
 * `FASTIFY_ROUTE_CONFIG_METADATA` of `@nestjs/platform-fastify` (what its `@RouteConfig()`
 * sets), spelt out: importing it would load Fastify's adapter in Express apps too.
 */
export const FASTIFY_ROUTE_CONFIG_METADATA = '__fastify_route_config__';

/** Marks an upload route: on Fastify its body reaches the handler unread. Express ignores it. */
export const ReadsRawBody = () =>
  SetMetadata(FASTIFY_ROUTE_CONFIG_METADATA, { [RAW_BODY_ROUTE]: true });

/** The part of a Fastify request the parser looks at. */
interface FastifyRequestLike {
  is404?: boolean;
  routeOptions?: { config?: Record<string, unknown> };
}

type ParserDone = (error: Error | null, body?: unknown) => void;
type Parser = (request: FastifyRequestLike, payload: IncomingMessage, done: ParserDone) => void;

/** The part of a Fastify instance used here (typed locally: `fastify` is not a dependency). */
interface FastifyLike {
  hasContentTypeParser(contentType: string): boolean;
  addContentTypeParser(contentType: string, parser: Parser): unknown;
  initialConfig: { maxParamLength?: number; routerOptions?: { maxParamLength?: number } };
}

/**
 * Fastify's router answers 414 to a path parameter longer than `maxParamLength` (100 unless
 * set), before any handler: project names of up to 255 characters need more. The adapter's
 * options are the app's, fixed when it is created, so the module can only tell.
 */
function checkParamLength(fastify: FastifyLike, logger: RedactingLogger): void {
  const { initialConfig } = fastify;
  const length = initialConfig.routerOptions?.maxParamLength ?? initialConfig.maxParamLength;
  if (length !== undefined && length < MAX_PROJECT_NAME_LENGTH) {
    logger.warn(
      `Fastify answers 414 to project names longer than its maxParamLength (${length}); ` +
        'names may have 255 characters: create the adapter with ' +
        'new FastifyAdapter({ routerOptions: { maxParamLength: 1024 } })',
    );
  }
}

/**
 * What Fastify raises without a parser for the content type, as its own error looks to Nest's
 * exception handler (which recognises Fastify's errors by this class name and keeps their
 * status): the app's other routes answer exactly as without this parser.
 */
class FastifyError extends Error {
  readonly code = 'FST_ERR_CTP_INVALID_MEDIA_TYPE';
  readonly statusCode = 415;
  constructor() {
    super('Unsupported Media Type');
    this.name = 'FastifyError';
  }
}

const passRawBodies: Parser = (request, _payload, done) => {
  if (request.routeOptions?.config?.[RAW_BODY_ROUTE] === true || request.is404 === true) {
    done(null);
  } else {
    done(new FastifyError());
  }
};

/** The Fastify instances that have the parser. */
const withParser = new WeakSet<object>();

/**
 * Registers the catch-all parser once the app's HTTP adapter is known, and checks the router's
 * parameter length (a no-op on Express).
 */
@Injectable()
export class FastifySupport implements OnModuleInit {
  private readonly logger = new RedactingLogger('Credentials');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType() !== 'fastify') return;
    const fastify = adapter.getInstance<FastifyLike>();
    // A second mount of the controller (named instances) finds its parser in place.
    if (withParser.has(fastify)) return;
    checkParamLength(fastify, this.logger);
    if (fastify.hasContentTypeParser('*')) {
      this.logger.warn(
        'The Fastify app has a catch-all content-type parser ("*") already: it must leave the ' +
          `body unread on routes whose config has ${RAW_BODY_ROUTE} (the credentials ` +
          "controller's uploads), else they answer 415",
      );
      return;
    }
    fastify.addContentTypeParser('*', passRawBodies);
    withParser.add(fastify);
  }
}
