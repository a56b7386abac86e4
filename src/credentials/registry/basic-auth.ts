/** The token of a registry with basic auth: base64 of `user:password`, as Docker sends it. */
export function basicAuthToken(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}
