import type { ConfigService } from '@nestjs/config';
import { CredentialsConfigError } from '../errors.js';
import { parseRegistryHost, registryHostOf } from '../registry/registry-host.js';

export { registryHostOf };

/** How one environment variable is checked. Values of `secret` variables are never echoed. */
export interface EnvVarSpec {
  required?: boolean;
  secret?: boolean;
  kind?: 'url' | 'bucket' | 'host' | 'text';
  default?: string;
}

export type EnvSchema<K extends string> = Record<K, EnvVarSpec>;

/** A rule over several variables; returns a problem naming them, or nothing. */
export type EnvRule<K extends string> = (
  values: Record<K, string | undefined>,
) => string | undefined;

const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name) && !name.includes('..');
}

function problemWith(name: string, value: string, spec: EnvVarSpec): string | undefined {
  switch (spec.kind) {
    case 'url': {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (!url || !/^https?:$/.test(url.protocol) || !url.hostname) {
        return `${name} must be an http(s) URL such as http://127.0.0.1:9000`;
      }
      // Keys in a URL would reach every log line that names the endpoint.
      if (url.username !== '' || url.password !== '') {
        return `${name} must not contain a user name or password (set the backend's key variables instead)`;
      }
      return undefined;
    }
    case 'bucket':
      return isValidBucketName(value)
        ? undefined
        : `${name} must be a valid bucket name (3-63 characters of a-z, 0-9, "." and "-")`;
    case 'host': {
      const parsed = parseRegistryHost(value);
      if ('address' in parsed) return undefined;
      return parsed.problem === 'userinfo'
        ? `${name} must not contain a user name or password (set REGISTRY_USERNAME and REGISTRY_PASSWORD instead)`
        : `${name} must be a registry host such as 127.0.0.1:5000, [::1]:5000 or 123.dkr.ecr.us-east-2.amazonaws.com (optionally with http:// or https://)`;
    }
    default:
      return undefined;
  }
}

/**
 * The trimming rule: a setting (host, bucket, URL, path, name) loses the whitespace around it;
 * a secret is taken as written, but for one trailing line break (`\n` or `\r\n`, what a
 * secret mounted from a file or written by `echo` ends with), since spaces can be part of a
 * password.
 */
function cleaned(raw: string, spec: EnvVarSpec): string {
  return spec.secret ? raw.replace(/\r?\n$/, '') : raw.trim();
}

/**
 * Reads the variables of `schema` through `ConfigService` and checks them all, so that every
 * problem is reported at once in one `CredentialsConfigError`.
 */
export function readEnv<K extends string>(
  config: ConfigService,
  backend: string,
  schema: EnvSchema<K>,
  rules: NoInfer<EnvRule<K>>[] = [],
): Record<K, string | undefined> {
  const values = {} as Record<K, string | undefined>;
  const problems: string[] = [];
  for (const name of Object.keys(schema) as K[]) {
    const spec = schema[name];
    const raw = config.get<unknown>(name);
    const value = raw === undefined || raw === null ? '' : cleaned(String(raw), spec);
    if (value === '') {
      if (spec.required) problems.push(`${name} is required by the "${backend}" backend`);
      values[name] = spec.default;
      continue;
    }
    const problem = problemWith(name, value, spec);
    if (problem) problems.push(problem);
    values[name] = value;
  }
  for (const rule of rules) {
    const problem = rule(values);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new CredentialsConfigError(problems);
  return values;
}

/** A rule: both variables are set, or neither is. */
export function setTogether<K extends string>(a: K, b: K): EnvRule<K> {
  return (values) =>
    (values[a] === undefined) !== (values[b] === undefined)
      ? `${a} and ${b} must be set together (only ${values[a] === undefined ? b : a} is set)`
      : undefined;
}
