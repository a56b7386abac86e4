/**
 * Times the two steps of a streamed module upload inside the transfer workers, around src's
 * own methods (src is not edited): the **spool** step, from `ProjectStorage.upload` to the
 * store's `putParts` (name check, reading the source into the spool file while hashing and
 * counting it), and the **send** step, `putParts` itself (the multipart upload from the spool
 * file). What remains of the upload's time (removing the spool file) is the difference. Also
 * counts the garbage collections, by kind, that start within each spool step (`bench/gc.ts`).
 */
import { ProjectStorage } from '../src/credentials/project/project-storage.js';
import { MinioObjectStore } from '../src/credentials/store/minio-object-store.js';
import { S3ObjectStore } from '../src/credentials/store/s3-object-store.js';
import { now } from './common.js';
import { clearGc, type GcCounts, gcIn, recordGc, settleGc } from './gc.js';

export interface StepTimes {
  /** ProjectStorage.upload -> putParts (ms), per streamed upload. */
  spoolMs: number[];
  /** putParts, start to settled (ms), per streamed upload. */
  sendMs: number[];
  /** Each spool step's window on the `performance.now()` clock, for `spoolGc()`. */
  spoolWindows: [number, number][];
}

export const stepTimes: StepTimes = { spoolMs: [], sendMs: [], spoolWindows: [] };
let uploadStarted = Number.NaN;
let installed = false;

export function resetStepTimes(): void {
  stepTimes.spoolMs = [];
  stepTimes.sendMs = [];
  stepTimes.spoolWindows = [];
  clearGc();
}

/**
 * The garbage collections within each spool step since the last reset, in order. Call it once
 * the upload is done: a collection's entry reaches the observer a little after it ran.
 */
export async function spoolGc(): Promise<GcCounts[]> {
  await settleGc();
  return stepTimes.spoolWindows.map(([from, to]) => gcIn(from, to));
}

export function instrumentSteps(): void {
  if (installed) return;
  installed = true;
  recordGc();
  const storage = ProjectStorage.prototype;
  const upload = storage.upload;
  storage.upload = function (this: ProjectStorage, ...args) {
    uploadStarted = now();
    return upload.apply(this, args);
  };
  for (const store of [S3ObjectStore.prototype, MinioObjectStore.prototype]) {
    const putParts = store.putParts;
    store.putParts = async function (this: typeof store, ...args) {
      const entered = now();
      stepTimes.spoolMs.push(entered - uploadStarted);
      stepTimes.spoolWindows.push([uploadStarted, entered]);
      try {
        return await putParts.apply(this, args);
      } finally {
        stepTimes.sendMs.push(now() - entered);
      }
    };
  }
}
