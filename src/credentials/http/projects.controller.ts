import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Req,
  RequestTimeoutException,
  Res,
  UnsupportedMediaTypeException,
  UseFilters,
} from '@nestjs/common';
import { RedactingLogger } from '../util/redact.js';
import { ConfigService } from '@nestjs/config';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { resolveTransferSettings } from '../config/transfer-settings.js';
import { CREDENTIALS_PROVIDER } from '../credentials.constants.js';
import { CREDENTIALS_MODULE_OPTIONS } from '../credentials.module-definition.js';
import type { CredentialsModuleOptions } from '../credentials.options.js';
import { type Credentials, type ProjectObject, projectsBucketOf } from '../credentials.js';
import { CredentialsConfigError } from '../errors.js';
import { assertProjectName, isValidBucketName } from '../project/project-name.js';
import { deadline, raceAbort } from '../util/deadline.js';
import { MULTIPART_PARSER, PROJECT_ZIP_FIELD } from './credentials-http.constants.js';
import { announcedSha256, SHA256_FORM_FIELD } from './content-digest.js';
import { CredentialsErrorFilter } from './credentials-error.filter.js';
import { ReadsRawBody } from './fastify-support.js';
import {
  nodeRequestOf,
  type PlatformRequest,
  type PlatformResponse,
  takeOverResponse,
} from './http-platform.js';
import type { MultipartReader } from './multipart-project.js';
import { sendProject } from './project-download.js';
import {
  clientGoneError,
  declaredLength,
  limitedBody,
  projectTooLarge,
  whenClientGone,
} from './upload-body.js';

/**
 * What a multipart form may add around the ZIP (boundaries, part headers, small fields) before
 * its Content-Length alone proves the ZIP too large.
 */
const MULTIPART_ALLOWANCE = 64 * 1024;

const BUCKET_ENV = 'BUCKET_NAME_PROJECTS';

function checkedBucket(bucket: string, source: string): string {
  if (!isValidBucketName(bucket)) {
    throw new CredentialsConfigError(
      bucket
        ? `${source} must be a valid bucket name (3-63 characters of a-z, 0-9, "." and "-")`
        : `${BUCKET_ENV} is needed by the credentials controller (downloads read from it)`,
    );
  }
  return bucket;
}

function mediaTypeOf(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * Uploads and downloads of project ZIPs, streamed both ways: the request goes to
 * `uploadProject` as it arrives, and the stored object goes to the client as it is read.
 * Mounted only by `CredentialsModule.forRoot({ controller })`.
 */
@Controller('projects')
@UseFilters(CredentialsErrorFilter)
export class ProjectsController {
  private readonly logger = new RedactingLogger('CredentialsController');
  private readonly maxProjectSize: number;
  /** How long a form may take to reach its file part (a client that sends headers, then nothing). */
  private readonly requestTimeoutMs: number;
  /**
   * The bucket downloads read from: a client never names one. The one the backend writes to
   * (see `projectsBucket`), found once.
   */
  #bucket: Promise<string> | undefined;
  /** `BUCKET_NAME_PROJECTS` of the configuration, checked at startup. */
  readonly #configuredBucket: string | undefined;

  constructor(
    @Inject(CREDENTIALS_PROVIDER) private readonly credentials: Credentials,
    @Inject(CREDENTIALS_MODULE_OPTIONS) options: CredentialsModuleOptions | undefined,
    @Inject(MULTIPART_PARSER) private readonly multipart: MultipartReader,
    config: ConfigService,
  ) {
    const transfer = resolveTransferSettings(options ?? {});
    this.maxProjectSize = transfer.maxProjectSize;
    this.requestTimeoutMs = transfer.requestTimeoutMs;
    const configured = String(config.get<unknown>(BUCKET_ENV) ?? '').trim();
    if (configured) checkedBucket(configured, BUCKET_ENV);
    this.#configuredBucket = configured || undefined;
  }

  /** The raw request body is the ZIP (`curl -T project.zip`). */
  @Put(':projectName')
  @HttpCode(201)
  @ReadsRawBody()
  async uploadRaw(
    @Param('projectName') projectName: string,
    @Req() platformRequest: PlatformRequest,
  ): Promise<ProjectObject> {
    assertProjectName(projectName);
    const req = nodeRequestOf(platformRequest);
    if (mediaTypeOf(req) === 'multipart/form-data') {
      throw new UnsupportedMediaTypeException(
        `Send a multipart form with POST (field "${PROJECT_ZIP_FIELD}"), or the bare ZIP with PUT`,
      );
    }
    if (req.readableEnded) {
      // A body parser of the app (json, urlencoded, text) has read it already.
      throw new UnsupportedMediaTypeException(
        `The body was read as ${mediaTypeOf(req) || 'a form'} by the application: ` +
          'send the ZIP as Content-Type: application/zip',
      );
    }
    this.refuseDeclaredLength(req, this.maxProjectSize);
    const sha256 = announcedSha256(req.headers);
    return this.receive(req, (clientGone) =>
      this.store(projectName, req, { signal: clientGone, sha256 }, () => undefined),
    );
  }

  /** estela's shape: a `multipart/form-data` request with the ZIP in field `project_zip`. */
  @Post(':projectName')
  @ReadsRawBody()
  async uploadForm(
    @Param('projectName') projectName: string,
    @Req() platformRequest: PlatformRequest,
  ): Promise<ProjectObject> {
    assertProjectName(projectName);
    const req = nodeRequestOf(platformRequest);
    if (mediaTypeOf(req) !== 'multipart/form-data') {
      throw new UnsupportedMediaTypeException(
        `Send multipart/form-data with the ZIP in field "${PROJECT_ZIP_FIELD}", or PUT the bare ZIP`,
      );
    }
    this.refuseDeclaredLength(req, this.maxProjectSize + MULTIPART_ALLOWANCE);
    return this.receive(req, async (clientGone) => {
      const form = this.multipart.open(req, PROJECT_ZIP_FIELD);
      let file: Readable;
      try {
        file = await this.fileOf(form.file, clientGone);
      } catch (err) {
        form.abort();
        throw err;
      }
      // A digest counts only when it came before the file (it is needed when the file starts).
      const sha256 = form.fields.get(SHA256_FORM_FIELD);
      return this.store(projectName, file, { signal: clientGone, sha256 }, () => form.abort());
    });
  }

  @Get(':projectName')
  async download(
    @Param('projectName') projectName: string,
    @Req() req: PlatformRequest,
    @Res() res: PlatformResponse,
  ): Promise<void> {
    assertProjectName(projectName);
    // A client that leaves ends the download at once (the store's connection is released).
    const nodeRequest = nodeRequestOf(req);
    const client = whenClientGone(nodeRequest);
    try {
      const stream = await this.credentials.downloadProject(
        await this.projectsBucket(),
        projectName,
        { signal: client.signal },
      );
      const { error } = await sendProject(nodeRequest, takeOverResponse(res), stream, projectName);
      if (error !== undefined && !client.signal.aborted) {
        const name = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        this.logger.error(`Download of "${projectName}" failed: ${name}`);
      }
    } finally {
      client.release();
    }
  }

  /**
   * The bucket the backend reports to build jobs, following estela: `BUCKET_NAME_PROJECTS` of
   * its credentials record (a built-in backend's holds the bucket given in code over the
   * environment's, so two instances or settings in code read from the right one), else of the
   * configuration, else of `getCredentials()` (see `projectsBucketOf`). Found once, at the first
   * download, not at startup (which must not contact servers); only the name is kept.
   */
  private projectsBucket(): Promise<string> {
    this.#bucket ??= projectsBucketOf(this.credentials, this.#configuredBucket).then(
      (bucket) => checkedBucket(bucket, `the backend's ${BUCKET_ENV}`),
      (err: unknown) => {
        this.#bucket = undefined; // a transient failure: ask again next time
        throw err;
      },
    );
    return this.#bucket;
  }

  /**
   * Runs an upload handler with the signal of its client going away (`whenClientGone`), so that
   * PUT and POST stop the same way when the request goes away, and stops listening once it
   * settles.
   */
  private async receive<T>(
    req: IncomingMessage,
    handler: (clientGone: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const client = whenClientGone(req);
    try {
      return await handler(client.signal);
    } finally {
      client.release();
    }
  }

  /**
   * The form's file stream, once its part arrives: within `requestTimeoutMs` (else 408), and
   * not after the client went away.
   */
  private async fileOf(file: Promise<Readable>, clientGone: AbortSignal): Promise<Readable> {
    const guard = deadline(this.requestTimeoutMs);
    try {
      return await raceAbort(file, AbortSignal.any([guard.signal, clientGone]), () =>
        clientGone.aborted
          ? clientGoneError()
          : new RequestTimeoutException(
              `The multipart form sent no file part "${PROJECT_ZIP_FIELD}" within ${this.requestTimeoutMs} ms`,
            ),
      );
    } finally {
      guard.clear();
    }
  }

  /** Refuses, before reading anything, a body whose announced length is already too large. */
  private refuseDeclaredLength(req: IncomingMessage, limit: number): void {
    const length = declaredLength(req);
    if (length !== undefined && length > limit) throw projectTooLarge(this.maxProjectSize);
  }

  /**
   * Hands the body to `uploadProject` with the client's signal (a client that leaves aborts the
   * upload) and the SHA-256 it announced, if any.
   */
  private async store(
    projectName: string,
    source: Readable,
    options: { signal: AbortSignal; sha256?: string },
    abort: () => void,
  ): Promise<ProjectObject> {
    const body = limitedBody(source, this.maxProjectSize, options.signal);
    const uploadOptions = options.sha256 === undefined ? { signal: options.signal } : options;
    try {
      return await this.credentials.uploadProject(projectName, body, uploadOptions);
    } catch (err) {
      body.destroy();
      source.unpipe(body);
      abort();
      // A backend sees the limit as its source failing and may call it unreadable.
      if (body.exceeded) throw projectTooLarge(this.maxProjectSize);
      throw err;
    }
  }
}
