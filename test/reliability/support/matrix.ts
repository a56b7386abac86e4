/**
 * The three axes of the reliability matrix (issue 10) and the rule that says which of their
 * combinations apply. Every combination is a cell: an applicable one runs (matrix.spec.ts), an
 * inapplicable one is recorded with its reason, so RELIABILITY.md lists it instead of dropping it.
 */
import { PART_SIZE } from './deadlines.js';

export const MiB = 1024 * 1024;

/**
 * Short deadlines, so that a cell that waits for one still runs in seconds; long enough that a
 * 12 MiB upload through the proxy meets them on a loaded 2-core machine.
 */
export const MATRIX_SETTINGS = {
  requestTimeoutMs: 2_000,
  uploadTimeoutMs: 5_000,
  partSize: PART_SIZE,
  partConcurrency: 2,
} as const;

export const BODIES = [
  'Buffer, one part',
  'Buffer, several parts',
  'Uint8Array',
  'fs read stream',
  'Readable',
  'Readable with sha256',
  'HTTP PUT',
  'HTTP multipart POST',
] as const;
export type BodyKind = (typeof BODIES)[number];

export const MATRIX_BACKENDS = ['aws', 'local', 'filesystem'] as const;
export type MatrixBackend = (typeof MATRIX_BACKENDS)[number];

export const FAULTS = [
  'client disconnect before the body',
  'client disconnect in the first part',
  'client disconnect in a later part',
  'connection reset by the server',
  'silent server',
  'slow commit after the whole body',
  'spool write failure: file size limit',
  'spool write failure: full disk',
  'module shutdown mid-upload',
  'caller abort before the call',
  'caller abort while the body is read',
  'caller abort awaiting the upload id',
  'caller abort mid-parts',
  'caller abort during the commit',
] as const;
export type Fault = (typeof FAULTS)[number];

/** Bytes of each body: Buffers of one part stay under `partSize`; the others span 3 parts. */
export function bodySize(body: BodyKind): number {
  return body === 'Buffer, one part' || body === 'Uint8Array' ? MiB : 12 * MiB;
}

export const isInMemory = (body: BodyKind): boolean =>
  body === 'Buffer, one part' || body === 'Buffer, several parts' || body === 'Uint8Array';

export const isHttp = (body: BodyKind): boolean =>
  body === 'HTTP PUT' || body === 'HTTP multipart POST';

export const isClientDisconnect = (fault: Fault): boolean => fault.startsWith('client disconnect');

/** The moments of an abort that only a multipart upload has. */
const isMultipartStep = (fault: Fault): boolean =>
  fault === 'caller abort awaiting the upload id' || fault === 'caller abort mid-parts';

/** The moments of an abort while one request is in flight (its answer held by the proxy). */
const isRequestStep = (fault: Fault): boolean =>
  fault === 'caller abort awaiting the upload id' || fault === 'caller abort during the commit';

/** The caller aborts its `signal` (`TransferOptions`) at one moment of the upload. */
export const isCallerAbort = (fault: Fault): boolean => fault.startsWith('caller abort');

/**
 * Bodies written to the spool file before their parts go out: streams without a supplied
 * SHA-256 (a stream with one is sent as it arrives; an fs read stream is read from its file).
 */
export const isSpooled = (body: BodyKind): boolean =>
  !isInMemory(body) && body !== 'fs read stream' && body !== 'Readable with sha256';

/** Client disconnects once the body is under way (before it, a stream is destroyed unread). */
const CUT_MID_BODY = new Set<Fault>([
  'client disconnect in the first part',
  'client disconnect in a later part',
]);

const isServerFault = (fault: Fault): boolean =>
  fault === 'connection reset by the server' ||
  fault === 'silent server' ||
  fault === 'slow commit after the whole body';

const isSpoolFailure = (fault: Fault): boolean => fault.startsWith('spool write failure');

/**
 * Why a cell does not apply, or `undefined` when it does. The rules, in order:
 * - a Buffer or Uint8Array is whole in memory before the call: it has no client to go away
 *   and is never written to the spool file;
 * - an `fs` read stream of a whole file is uploaded from the file by position: never spooled,
 *   and no reader of the stream can go away once the upload has begun;
 * - the filesystem backend has no server in between: no server fault can reach it;
 * - a stream with a supplied sha256 is sent as it arrives, never spooled;
 * - the caller's signal: an HTTP client has none (its going away is the controller's signal), a
 *   Buffer is hashed synchronously (no moment "while read"), a body of one part has no
 *   multipart upload, and the filesystem store sends no request (none to abort in flight).
 */
export function notApplicable(
  body: BodyKind,
  backend: MatrixBackend,
  fault: Fault,
): string | undefined {
  if (isInMemory(body) && isClientDisconnect(fault)) {
    return 'a Buffer is whole in memory before the call: no client can go away mid-body';
  }
  if (isInMemory(body) && isSpoolFailure(fault)) {
    return 'a Buffer is uploaded from memory: it is never written to the spool file';
  }
  if (body === 'fs read stream' && isSpoolFailure(fault)) {
    return 'an fs read stream of a whole file is uploaded from the file itself: it is never written to the spool file';
  }
  if (body === 'Readable with sha256' && isSpoolFailure(fault)) {
    return 'a stream with a supplied sha256 is sent as it arrives, never spooled';
  }
  if (isHttp(body) && isCallerAbort(fault)) {
    return 'an HTTP client has no AbortSignal (its going away: the client disconnect rows)';
  }
  if (isInMemory(body) && fault === 'caller abort while the body is read') {
    return 'a Buffer is hashed in one synchronous step: no moment while it is read';
  }
  if (bodySize(body) <= MATRIX_SETTINGS.partSize && isMultipartStep(fault)) {
    return 'one part, one request: no multipart upload to abort';
  }
  if (backend === 'filesystem' && isRequestStep(fault)) {
    return 'the filesystem store sends no request: none in flight to abort';
  }
  if (body === 'fs read stream' && CUT_MID_BODY.has(fault)) {
    return 'an fs read stream of a whole file is read by position from the file, not through the stream: there is no reader to go away mid-body';
  }
  if (backend === 'filesystem' && isServerFault(fault)) {
    return 'the filesystem backend writes to a local disk: there is no server to fail';
  }
  return undefined;
}

export interface Cell {
  body: BodyKind;
  backend: MatrixBackend;
  fault: Fault;
  /** Set when the cell does not apply. */
  reason?: string;
}

/** Every combination of the three axes, fault by fault. */
export function allCells(): Cell[] {
  return FAULTS.flatMap((fault) =>
    MATRIX_BACKENDS.flatMap((backend) =>
      BODIES.map((body) => ({ body, backend, fault, reason: notApplicable(body, backend, fault) })),
    ),
  );
}

/**
 * The deadline a cell's call must settle within (plus `SLACK_MS`), from the moment the fault
 * strikes: a client that goes away is noticed at once, and a shutdown aborts the uploads in
 * flight at once; a server fault is bounded by the upload's deadline plus the settling of a
 * commit in flight (one request deadline), and a spool file that cannot be written (the call is
 * timed from its start, the transfer of the body included) by the upload's deadline; a caller's
 * abort (timed from the abort) by one request deadline.
 */
export function deadlineOf(fault: Fault): number {
  // An abort ends the requests in flight at once; the multipart upload is aborted (one request)
  // before the call rejects, and a commit in flight is settled (one request deadline).
  if (isCallerAbort(fault)) return MATRIX_SETTINGS.requestTimeoutMs;
  // A server fault may strike while a commit is in flight: at its deadline the module settles
  // that commit's outcome before answering, within one more request deadline (issue 10, row 3:
  // "within a bounded extra time"; README, "When a deadline passes during an upload").
  if (isServerFault(fault))
    return MATRIX_SETTINGS.uploadTimeoutMs + MATRIX_SETTINGS.requestTimeoutMs;
  return isSpoolFailure(fault) ? MATRIX_SETTINGS.uploadTimeoutMs : 0;
}

/**
 * How long after the call settled the key is looked at (at least twice the deadline, and never
 * less than twice a request's deadline, so a request still in flight has ended).
 */
export function observeAfterMs(fault: Fault): number {
  return 2 * Math.max(deadlineOf(fault), MATRIX_SETTINGS.requestTimeoutMs);
}
