import type { Readable } from 'node:stream';
import type { TransferSettings } from '../config/transfer-settings.js';
import type { ProjectBody, ProjectObject } from '../credentials.js';
import type { ObjectStore } from '../store/object-store.js';
import { deadlineExceeded, toStorageError } from '../store/storage-errors.js';
import { deadline } from '../util/deadline.js';
import { verifiedDownload } from './integrity-check.js';
import { prepareProjectBody } from './project-body.js';
import { assertBucketName, assertProjectName } from './project-name.js';
import { withProjectSize } from './project-stream.js';

/**
 * Everything that holds whatever the store is: name rules, ZIP signature, size limit, the
 * SHA-256 computed while streaming, the integrity check on the way back and the upload
 * deadline. The store behind it only moves bytes.
 */
export class ProjectStorage {
  constructor(
    private readonly store: ObjectStore,
    private readonly bucket: string,
    private readonly transfer: TransferSettings,
  ) {}

  async upload(projectName: string, project: ProjectBody): Promise<ProjectObject> {
    assertProjectName(projectName);
    const { bucket, transfer } = this;
    const body = await prepareProjectBody(project, {
      maxProjectSize: transfer.maxProjectSize,
      wholeBodyLimit: transfer.partSize,
    });
    const guard = deadline(transfer.uploadTimeoutMs);
    try {
      if (body.kind === 'whole') {
        await this.store.putObject(bucket, projectName, body.data, body.sha256, guard.signal);
        return { bucket, key: projectName, size: body.size, sha256: body.sha256 };
      }
      const etag = await this.store.putStream(bucket, projectName, body.stream, guard.signal);
      const { size, sha256 } = body.digest();
      await this.recordSha256(projectName, etag, sha256);
      return { bucket, key: projectName, size, sha256 };
    } catch (err) {
      if (body.kind === 'stream') body.stream.destroy();
      throw guard.signal.aborted
        ? deadlineExceeded(
            { operation: 'upload', bucket, key: projectName },
            transfer.uploadTimeoutMs,
          )
        : toStorageError(err, { operation: 'upload', bucket, key: projectName });
    } finally {
      guard.clear();
    }
  }

  /**
   * The SHA-256 of a streamed upload is known only at its end, so it is recorded afterwards,
   * only on the object this upload wrote (If-Match its ETag). Some servers refuse If-Match on
   * multipart objects even when it holds (Swift s3api); then the ETag is compared here.
   */
  private async recordSha256(key: string, etag: string, sha256: string): Promise<void> {
    if (await this.store.recordSha256(this.bucket, key, sha256, etag || undefined)) return;
    const unquote = (value: string | undefined) => value?.replace(/"/g, '');
    if (etag && unquote(await this.store.etagOf(this.bucket, key)) === unquote(etag)) {
      await this.store.recordSha256(this.bucket, key, sha256, undefined);
    }
    // Otherwise another upload replaced the object meanwhile and records its own SHA-256.
  }

  async download(bucketName: string, projectName: string): Promise<Readable> {
    assertBucketName(bucketName);
    assertProjectName(projectName);
    const object = await this.store.getObject(bucketName, projectName);
    const call = { operation: 'download', bucket: bucketName, key: projectName };
    // The size comes with the same response as the bytes (no extra HEAD, no race with a new
    // upload) and is enforced by the check, so an HTTP layer may send it as Content-Length.
    return withProjectSize(
      verifiedDownload(
        object.body,
        { bucket: bucketName, key: projectName, size: object.size, sha256: object.sha256 },
        (err) => toStorageError(err, call),
      ),
      object.size,
    );
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
