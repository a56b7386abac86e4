/** The token of a registry with basic auth: base64 of `user:password`, as Docker sends it. */
export function basicAuthToken(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** The registry token of `local`-style settings: basic auth when both are set, else none. */
export function registryTokenOf(
  username: string | undefined,
  password: string | undefined,
): string | null {
  return username && password ? basicAuthToken(username, password) : null;
}
