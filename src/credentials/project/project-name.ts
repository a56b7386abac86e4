import { InvalidProjectError } from '../errors.js';

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

function describe(value: unknown): string {
  if (typeof value !== 'string') return `a ${value === null ? 'null' : typeof value}`;
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return `${JSON.stringify(shown)} (${value.length} characters)`;
}

/** Names Windows maps to devices, alone or before any extension (`nul.zip` is NUL too). */
const WINDOWS_DEVICE = /^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\.|$)/i;

const RULE =
  'use 1-255 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or digit, ' +
  'without "..", not ending with "." and not a Windows device name';

/** Why `name` is refused, or `undefined` when it is a good project name. */
function problemWith(name: unknown): string | undefined {
  if (typeof name !== 'string' || !PROJECT_NAME.test(name) || name.includes('..')) return RULE;
  // A store on Windows (a share, a synced folder, a backup) drops a trailing dot, so "a." and
  // "a" would be one file; and it opens a device instead of a file for CON, NUL.zip, COM1...
  if (name.endsWith('.')) return `it ends with ".", which Windows drops from file names`;
  const device = WINDOWS_DEVICE.exec(name);
  if (device) {
    return (
      `"${device[1]}" is a Windows device name (CON, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9), ` +
      'which a store on Windows would open as a device, not a file'
    );
  }
  return undefined;
}

/**
 * The one place that decides whether a project name is acceptable: 1-255 characters of
 * `[A-Za-z0-9._-]`, starting with a letter or digit, without `..`, not ending with `.` and not
 * a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM1`-`COM9`, `LPT1`-`LPT9`, alone or
 * before a dot, in any case). Such a name is safe as an object key, a file name on any system
 * and a URL path segment.
 */
export function assertProjectName(name: unknown): asserts name is string {
  const problem = problemWith(name);
  if (problem !== undefined) {
    throw new InvalidProjectError(`Invalid project name ${describe(name)}: ${problem}`, 'name');
  }
}

const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The one place that decides whether a bucket name is acceptable: 3-63 characters of
 * `[a-z0-9.-]`, starting and ending with a letter or digit, without `..`, not an IP address.
 */
export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name) && !name.includes('..');
}

export function assertBucketName(bucket: unknown): asserts bucket is string {
  if (typeof bucket !== 'string' || !isValidBucketName(bucket)) {
    throw new InvalidProjectError(
      `Invalid bucket name ${describe(bucket)}: use 3-63 characters of a-z, 0-9, "." and "-"`,
      'bucket',
    );
  }
}
