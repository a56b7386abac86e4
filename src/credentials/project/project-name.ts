import { isValidBucketName } from '../config/env-schema.js';
import { InvalidProjectError } from '../errors.js';

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

function describe(value: unknown): string {
  if (typeof value !== 'string') return `a ${value === null ? 'null' : typeof value}`;
  const shown = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  return `${JSON.stringify(shown)} (${value.length} characters)`;
}

/**
 * The one place that decides whether a project name is acceptable: 1-255 characters of
 * `[A-Za-z0-9._-]`, starting with a letter or digit, without `..`. Such a name is safe as an
 * object key, a file name and a URL path segment.
 */
export function assertProjectName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !PROJECT_NAME.test(name) || name.includes('..')) {
    throw new InvalidProjectError(
      `Invalid project name ${describe(name)}: use 1-255 characters of A-Z, a-z, 0-9, ".", "_" ` +
        'and "-", starting with a letter or digit, without ".."',
      'name',
    );
  }
}

export function assertBucketName(bucket: unknown): asserts bucket is string {
  if (typeof bucket !== 'string' || !isValidBucketName(bucket)) {
    throw new InvalidProjectError(
      `Invalid bucket name ${describe(bucket)}: use 3-63 characters of a-z, 0-9, "." and "-"`,
      'bucket',
    );
  }
}
