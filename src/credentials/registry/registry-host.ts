import { isIPv6 } from 'node:net';

/** A registry as `REGISTRY_HOST` names it. */
export interface RegistryAddress {
  /** The scheme given in the value; without one, the probe picks by Docker's loopback rule. */
  scheme?: 'http' | 'https';
  /** Lower-case host with its port when one is given: `127.0.0.1:5000`, `[::1]:5000`. */
  host: string;
}

/** Why a value is not a registry host (the value itself is never echoed: it may hold a key). */
export type RegistryHostProblem = 'scheme' | 'userinfo' | 'host';

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const PORT = /^\d{1,5}$/;

function validPort(port: string | undefined): boolean {
  return port === undefined || (PORT.test(port) && Number(port) >= 1 && Number(port) <= 65_535);
}

/**
 * The one reading of `REGISTRY_HOST`, shared by validation, the health probe and the Docker
 * config: an optional `http://` or `https://`, then `host[:port]` (a DNS name, an IPv4
 * address, or an IPv6 address in brackets). A path after the host is dropped everywhere, as
 * Docker does (the registry API always lives at `/v2/` of the host). User info
 * (`user:password@`) is refused: credentials go in `REGISTRY_USERNAME` / `REGISTRY_PASSWORD`.
 */
export function parseRegistryHost(
  value: string,
): { address: RegistryAddress } | { problem: RegistryHostProblem } {
  let rest = value.trim();
  let scheme: RegistryAddress['scheme'];
  const withScheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (withScheme) {
    const name = withScheme[1].toLowerCase();
    if (name !== 'http' && name !== 'https') return { problem: 'scheme' };
    scheme = name;
    rest = rest.slice(withScheme[0].length);
  }
  const authority = rest.split(/[/?#]/, 1)[0].toLowerCase();
  if (authority.includes('@')) return { problem: 'userinfo' };
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(authority);
  if (bracketed) {
    return isIPv6(bracketed[1]) && validPort(bracketed[2])
      ? { address: { scheme, host: authority } }
      : { problem: 'host' };
  }
  const [name, port, extra] = authority.split(':');
  if (extra !== undefined || !NAME.test(name) || !validPort(port)) return { problem: 'host' };
  return { address: { scheme, host: authority } };
}

/**
 * `https://x.example.com/` and `x.example.com` name the same registry host. A value that does
 * not parse (only possible where it was not validated) is returned trimmed and lower-cased.
 */
export function registryHostOf(value: string): string {
  const parsed = parseRegistryHost(value);
  return 'address' in parsed ? parsed.address.host : value.trim().toLowerCase();
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/**
 * The base URL of a registry. A scheme in `REGISTRY_HOST` wins; without one, Docker's own rule:
 * plain HTTP only for loopback registries, HTTPS for everything else.
 */
export function registryBaseUrl(registryHost: string): string {
  const parsed = parseRegistryHost(registryHost);
  const { scheme, host } =
    'address' in parsed
      ? parsed.address
      : { scheme: undefined, host: registryHostOf(registryHost) };
  return `${scheme ?? (LOOPBACK.test(host) ? 'http' : 'https')}://${host}`;
}
