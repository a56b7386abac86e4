import { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The one place that knows which HTTP platform serves the controller. The controller streams
 * both ways, so it works on Node's own request and response: Express hands them over as they
 * are (its request and response extend them), Fastify wraps them (`request.raw`, `reply.raw`).
 * Nothing here loads Express or Fastify: an app has only the one it uses.
 */

/** What `@Req()` gives: the Node request (Express), or Fastify's request around it. */
export type PlatformRequest = IncomingMessage | { readonly raw: IncomingMessage };

/** What `@Res()` gives: the Node response (Express), or Fastify's reply around it. */
export type PlatformResponse = ServerResponse | { readonly raw: ServerResponse; hijack(): unknown };

/** The Node request under `req`, whose body the controller reads as a stream. */
export function nodeRequestOf(req: PlatformRequest): IncomingMessage {
  return req instanceof IncomingMessage ? req : req.raw;
}

/** The Node response under `res`, to set a header on an answer the controller writes later. */
export function nodeResponseOf(res: PlatformResponse): ServerResponse {
  return res instanceof ServerResponse ? res : res.raw;
}

/**
 * The Node response under `res`, taken over from the platform: the caller writes the whole
 * answer itself (a streamed download, an error that may first drain the request). Fastify is
 * told so (`reply.hijack()`), else it would answer too, or log the handler's empty result.
 */
export function takeOverResponse(res: PlatformResponse): ServerResponse {
  if (res instanceof ServerResponse) return res;
  res.hijack();
  return res.raw;
}
