import { registryHostOf } from './registry-host.js';

/** Registry credentials in the shape tools take them (`docker login`, kaniko, Kubernetes). */
export interface RegistryAuth {
  /** Registry host without scheme: `123.dkr.ecr.us-east-2.amazonaws.com`, `127.0.0.1:5000`. */
  registry: string;
  username: string;
  password: string;
  /** base64 of `username:password`, what Docker sends and stores as `auth`. */
  token: string;
  /** When the token stops working, or `null` for credentials that do not expire. */
  expiresAt: Date | null;
}

/**
 * The content of a Docker `config.json`, a kaniko config, and a Kubernetes
 * `kubernetes.io/dockerconfigjson` secret (under the key `.dockerconfigjson`).
 */
export interface DockerConfig {
  auths: Record<string, { auth: string }>;
}

/** A registry token with its expiry, as a backend knows it. */
export interface RegistryTokenWithExpiry {
  token: string | null;
  expiresAt: Date | null;
}

/**
 * Splits a basic-auth token (base64 of `user:password`) at its first colon: a username cannot
 * contain one, a password can, so a password with colons round-trips.
 */
export function registryAuthFromToken(
  registryHost: string,
  current: RegistryTokenWithExpiry,
): RegistryAuth | null {
  if (current.token === null) return null;
  const decoded = Buffer.from(current.token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return {
    registry: registryHostOf(registryHost),
    username: colon < 0 ? decoded : decoded.slice(0, colon),
    password: colon < 0 ? '' : decoded.slice(colon + 1),
    token: current.token,
    expiresAt: current.expiresAt,
  };
}

export function dockerConfigOf(auth: RegistryAuth | null): DockerConfig {
  return auth === null ? { auths: {} } : { auths: { [auth.registry]: { auth: auth.token } } };
}
