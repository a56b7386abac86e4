import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * The names each entry point of the package exports, pinned: adding or removing a public name
 * fails here until the list below (and the CHANGELOG) says so. Values are read from the loaded
 * module, as an app gets them; type-only names from the declarations, as TypeScript sees them.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SURFACE: Record<string, { values: string[]; types: string[] }> = {
  '.': {
    values: [
      'AccessDeniedError',
      'ApiTokenGuard',
      'AwsCredentials',
      'BucketNotFoundError',
      'CREDENTIALS_MODULE_OPTIONS',
      'CREDENTIALS_PROVIDER',
      'Credentials',
      'CredentialsConfigError',
      'CredentialsError',
      'CredentialsModule',
      'FilesystemCredentials',
      'InjectCredentials',
      'IntegrityError',
      'InvalidProjectError',
      'LocalCredentials',
      'NotSupportedError',
      'ProjectNotFoundError',
      'RegistryAuthError',
      'StorageUnavailableError',
      'getCredentialsToken',
    ],
    types: [
      'AwsSettings',
      'CredentialsBackend',
      'CredentialsControllerOptions',
      'CredentialsErrorCode',
      'CredentialsModuleAsyncOptions',
      'CredentialsModuleExtras',
      'CredentialsModuleOptions',
      'CredentialsModuleSyncOptions',
      'DockerConfig',
      'FilesystemSettings',
      'HttpErrorBody',
      'LocalSettings',
      'ProjectBody',
      'ProjectObject',
      'RegistryAuth',
      'RegistryTokenResponse',
      'TransferOptions',
      'TransferTuning',
      'UploadOptions',
    ],
  },
  './backend': {
    values: [
      'DEFAULT_TRANSFER_SETTINGS',
      'FilesystemObjectStore',
      'StoreBackedCredentials',
      'assertBucketName',
      'assertProjectName',
      'basicAuthToken',
      'probeRegistry',
      'readEnv',
      'readSettings',
      'registryHostOf',
      'registryTokenOf',
      'resolveTransferSettings',
      'setTogether',
      'withProjectSize',
    ],
    types: [
      'EnvRule',
      'EnvSchema',
      'EnvVarSpec',
      'FilesystemStoreConfig',
      'ObjectStore',
      'PartSource',
      'ProjectStream',
      'RegistryTokenWithExpiry',
      'StoreModes',
      'StoredObject',
      'TransferSettings',
    ],
  },
  './testing': {
    values: ['InMemoryCredentials', 'overrideCredentials'],
    types: [
      'CredentialsCall',
      'CredentialsCallArgs',
      'CredentialsMethod',
      'InMemoryAppSettings',
      'InMemoryCredentialsOptions',
    ],
  },
  './health': {
    values: ['CredentialsHealthIndicator'],
    types: ['CredentialsHealthOptions', 'CredentialsPartHealth'],
  },
};

type ExportConditions = { types: string; import: string; default: string };
const packageJson = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  exports: Record<string, ExportConditions | string>;
};
const entries = Object.entries(packageJson.exports).filter(
  (entry): entry is [string, ExportConditions] => typeof entry[1] !== 'string',
);

/** `./dist/credentials/backend.d.ts` -> `src/credentials/backend.ts`. */
const sourceOf = (declarations: string) =>
  declarations.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts');

/** Every name each source file exports, as the TypeScript checker resolves them. */
function exportedNames(files: string[]): Map<string, string[]> {
  const { config } = ts.readConfigFile(`${ROOT}tsconfig.json`, ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  // Only this package's sources: the names are declared there, and leaving out the libraries
  // (whose imports then stay unresolved) keeps the program small.
  const compilerOptions = { ...options, noEmit: true, noLib: true, types: [] };
  const host = ts.createCompilerHost(compilerOptions);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, ...rest) =>
    fileName.includes('/node_modules/') ? undefined : getSourceFile(fileName, ...rest);
  const program = ts.createProgram(
    files.map((file) => `${ROOT}${file}`),
    compilerOptions,
    host,
  );
  const checker = program.getTypeChecker();
  return new Map(
    files.map((file) => {
      const source = program.getSourceFile(`${ROOT}${file}`);
      const moduleSymbol = source && checker.getSymbolAtLocation(source);
      if (!moduleSymbol) throw new Error(`${file} is not a module`);
      return [file, checker.getExportsOfModule(moduleSymbol).map((symbol) => symbol.name)];
    }),
  );
}

describe('the public surface', () => {
  it('has exactly the entry points root, /backend, /testing and /health, each for import and require', () => {
    expect(Object.keys(packageJson.exports).sort()).toEqual([
      '.',
      './backend',
      './health',
      './package.json',
      './testing',
    ]);
    for (const [, conditions] of entries) {
      expect(Object.keys(conditions)).toEqual(['types', 'import', 'default']);
      expect(conditions.import).toBe(conditions.types.replace(/\.d\.ts$/, '.js'));
      expect(conditions.default).toBe(conditions.import);
    }
  });

  it('exports exactly the pinned names from each entry point', async () => {
    const declared = exportedNames(entries.map(([, conditions]) => sourceOf(conditions.types)));
    for (const [entry, conditions] of entries) {
      const source = sourceOf(conditions.types);
      // A relative `.js` path, which the jest resolver maps to the `.ts` source.
      const loaded = (await import(`../../${source.replace(/\.ts$/, '.js')}`)) as object;
      const values = Object.keys(loaded).sort();
      const types = (declared.get(source) ?? []).filter((name) => !values.includes(name)).sort();
      expect({ entry, values, types }).toEqual({ entry, ...SURFACE[entry] });
    }
  }, 60_000);

  it('exports each name from one entry point only', () => {
    const owners = new Map<string, string[]>();
    for (const [entry, { values, types }] of Object.entries(SURFACE)) {
      for (const name of [...values, ...types])
        owners.set(name, [...(owners.get(name) ?? []), entry]);
    }
    expect([...owners].filter(([, where]) => where.length > 1)).toEqual([]);
  });
});
