/** What the example app prints once it listens. */
export interface BannerInput {
  /** Base URL, without a trailing slash: `http://127.0.0.1:3000`. */
  url: string;
  /** The backend in use (`CREDENTIALS`). */
  backend: string;
  /**
   * The API token when the app generated it (printing it is the only way to hand it out);
   * `undefined` when it comes from the configuration, whose value is not repeated.
   */
  generatedToken?: string;
}

const quote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * The startup message: URL, token, and curl lines to paste. It never contains a storage secret
 * and shows a configured API token only as `$CREDENTIALS_API_TOKEN`.
 */
export function startupBanner({ url, backend, generatedToken }: BannerInput): string {
  const auth = generatedToken
    ? `-H ${quote(`Authorization: Bearer ${generatedToken}`)}`
    : '-H "Authorization: Bearer $CREDENTIALS_API_TOKEN"';
  const project = `${url}/projects/my-project.zip`;
  return [
    '',
    `nest-credentials example app listening on ${url} (backend: ${backend})`,
    generatedToken
      ? `API token (generated for this run; set CREDENTIALS_API_TOKEN to choose one): ${generatedToken}`
      : 'API token: the configured CREDENTIALS_API_TOKEN',
    '',
    '# No ZIP at hand? Make one:',
    `python3 -c "import zipfile; zipfile.ZipFile('project.zip', 'w').writestr('hello.txt', 'hello')"`,
    '# Upload, raw body (PUT):',
    `curl -T project.zip -H 'Content-Type: application/zip' ${auth} ${project}`,
    '# Upload, multipart form (POST, field project_zip):',
    `curl -F project_zip=@project.zip ${auth} ${project}`,
    '# Download:',
    `curl -f -o downloaded.zip ${auth} ${project}`,
    '# Registry token:',
    `curl ${auth} ${url}/registry/token`,
    '',
  ].join('\n');
}
