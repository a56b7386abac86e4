import type { ConfigService } from '@nestjs/config';
import { CredentialsConfigError } from '../errors.js';
import { isValidBucketName } from '../project/project-name.js';
import { parseRegistryHost, registryHostOf } from '../registry/registry-host.js';

export { registryHostOf };

/** How one environment variable is checked. Values of `secret` variables are never echoed. */
export interface EnvVarSpec<S extends string = string> {
  required?: boolean;
  secret?: boolean;
  /** `boolean`: `true` or `false` (a given setting may be a boolean). */
  kind?: 'url' | 'bucket' | 'host' | 'text' | 'boolean';
  default?: string;
  /**
   * The name of the same setting in the module options (`forRoot({ aws: { bucket } })`): a
   * value given there wins over the variable (see `readSettings`).
   */
  setting?: S;
}

/** Variables by name; `S` names the settings they may be given as in code. */
export type EnvSchema<K extends string, S extends string = string> = Record<K, EnvVarSpec<S>>;

/**
 * A rule over several variables; returns a problem naming them, or nothing. `nameOf` names a
 * variable by where its value came from (`aws.region (forRoot)`, `AWS_REGION (environment)`).
 */
export type EnvRule<K extends string> = (
  values: Record<K, string | undefined>,
  nameOf: (name: K) => string,
) => string | undefined;

/** Where the settings given in code come from, as named in problems. */
const GIVEN = 'forRoot';

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
    case 'boolean':
      return /^(true|false)$/i.test(value) ? undefined : `${name} must be true or false`;
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
  return readSettings(config, backend, schema, undefined, rules);
}

/**
 * The one place where a backend's settings are merged and checked: a setting given in code
 * (`given`, the backend's object in the module options, keyed by each variable's `setting`)
 * wins over its variable read through `ConfigService`, which stays the default source. Every
 * problem of both sources is reported at once in one `CredentialsConfigError`, each naming
 * where its value came from; no value is ever echoed. Given values are cleaned as variables
 * are (see `cleaned`); one given as `undefined` or `''` is not given.
 */
export function readSettings<K extends string>(
  config: ConfigService,
  backend: string,
  schema: EnvSchema<K>,
  given: object | undefined,
  rules: NoInfer<EnvRule<K>>[] = [],
): Record<K, string | undefined> {
  const names = Object.keys(schema) as K[];
  const bySetting = new Map(names.flatMap((name) => settingOf(schema[name], name)));
  const labelled = bySetting.size > 0;
  /** Where each value that is set came from. */
  const sources = new Map<K, 'code' | 'environment'>();
  const values = {} as Record<K, string | undefined>;
  const problems: string[] = [];
  const givenValues = givenEntries(backend, given, problems);
  for (const key of givenValues.keys()) {
    if (!bySetting.has(key)) {
      const valid = [...bySetting.keys()].join(', ');
      problems.push(
        `${backend}.${key} (${GIVEN}) is not a setting of the "${backend}" backend; valid: ${valid}`,
      );
    }
  }
  const nameOf = (name: K): string => {
    const setting = schema[name].setting;
    const source = sources.get(name);
    if (source === 'code') return `${backend}.${setting} (${GIVEN})`;
    return labelled && source === 'environment' ? `${name} (environment)` : name;
  };
  for (const name of names) {
    const spec = schema[name];
    const setting = spec.setting;
    const inCode = setting === undefined ? undefined : givenValues.get(setting);
    let raw: unknown = inCode;
    if (inCode !== undefined && inCode !== '') {
      sources.set(name, 'code');
      const label = `${backend}.${setting} (${GIVEN})`;
      if (spec.kind === 'boolean' && typeof inCode === 'boolean') raw = String(inCode);
      else if (typeof inCode !== 'string') {
        problems.push(`${label} must be ${spec.kind === 'boolean' ? 'true or false' : 'a string'}`);
        continue;
      }
    } else {
      raw = config.get<unknown>(name);
      sources.set(name, 'environment');
    }
    const value = raw === undefined || raw === null ? '' : cleaned(String(raw), spec);
    if (value === '') {
      sources.delete(name);
      if (spec.required) {
        const inForRoot = setting === undefined ? '' : `, or ${backend}.${setting} in ${GIVEN}`;
        problems.push(
          labelled
            ? `${name} is required by the "${backend}" backend (set it in the environment${inForRoot})`
            : `${name} is required by the "${backend}" backend`,
        );
      }
      values[name] = spec.default;
      continue;
    }
    values[name] = value;
    const problem = problemWith(nameOf(name), value, spec);
    if (problem) problems.push(problem);
  }
  for (const rule of rules) {
    const problem = rule(values, nameOf);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new CredentialsConfigError(problems);
  return values;
}

function settingOf<K extends string>(spec: EnvVarSpec, name: K): [string, K][] {
  return spec.setting === undefined ? [] : [[spec.setting, name]];
}

/** The given settings as a map, or a problem when they are not a plain object. */
function givenEntries(
  backend: string,
  given: object | undefined,
  problems: string[],
): Map<string, unknown> {
  if (given === undefined || given === null) return new Map();
  if (typeof given !== 'object' || Array.isArray(given)) {
    problems.push(`${backend} (${GIVEN}) must be an object of settings`);
    return new Map();
  }
  return new Map(Object.entries(given));
}

/** A rule: both variables are set, or neither is. */
export function setTogether<K extends string>(a: K, b: K): EnvRule<K> {
  return (values, nameOf = (name) => name) =>
    (values[a] === undefined) !== (values[b] === undefined)
      ? `${a} and ${b} must be set together (only ${nameOf(values[a] === undefined ? b : a)} is set)`
      : undefined;
}
