import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { RedactingLogger } from '../util/redact.js';
import { sendHttpError, toHttpError } from './http-error.js';
import {
  nodeRequestOf,
  type PlatformRequest,
  type PlatformResponse,
  takeOverResponse,
} from './http-platform.js';

/**
 * Answers every error of the credentials controller as JSON with the status of
 * `toHttpError`, also the guards' (401, 403). Scoped to the controller, so an app's own
 * routes keep their own error handling.
 */
@Catch()
export class CredentialsErrorFilter implements ExceptionFilter {
  private readonly logger = new RedactingLogger('CredentialsController');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = nodeRequestOf(http.getRequest<PlatformRequest>());
    const error = toHttpError(exception);
    if (error.status >= 500) {
      // Server-side faults are worth a log line; CredentialsError messages hold no secret.
      const detail = exception instanceof Error ? `${exception.name}: ${exception.message}` : '';
      this.logger.error(`${req.method} ${req.url} failed with ${error.status}. ${detail}`);
    }
    sendHttpError(req, takeOverResponse(http.getResponse<PlatformResponse>()), error);
  }
}
