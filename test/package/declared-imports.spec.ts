import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Every package the library imports (statically, dynamically or for its types) is one that an
 * app installing it is told about: a dependency or a declared peer. The package has no
 * dependencies of its own: Nest and `reflect-metadata`/`rxjs` are required peers, and
 * everything only one backend, entry point or the controller needs is an optional peer.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIBRARY = join(ROOT, 'src/credentials');

const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/** The peers every app has anyway: Nest itself and what Nest needs. */
const REQUIRED_PEERS = [
  '@nestjs/common',
  '@nestjs/config',
  '@nestjs/core',
  'reflect-metadata',
  'rxjs',
];
/** Peers declared for the app rather than imported: Nest's own needs and the HTTP platforms. */
const DECLARED_FOR_THE_APP = [
  '@nestjs/platform-express',
  '@nestjs/platform-fastify',
  'reflect-metadata',
  'rxjs',
];

/** The library's own source files (what `npm run build` publishes), without the specs. */
function librarySources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return librarySources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** `@aws-sdk/client-s3/dist/x` -> `@aws-sdk/client-s3`, `busboy` -> `busboy`. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** The packages each library file imports: `import`, `export ... from`, `import()`, `import type`. */
function importedPackages(): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const file of librarySources(LIBRARY)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: specifier } of importedFiles) {
      if (specifier.startsWith('.') || isBuiltin(specifier)) continue;
      const name = packageOf(specifier);
      users.set(name, [...(users.get(name) ?? []), relative(ROOT, file)]);
    }
  }
  return users;
}

describe('the packages the library imports', () => {
  const imported = importedPackages();
  const declared = { ...packageJson.dependencies, ...packageJson.peerDependencies };

  it('finds the imports it looks for (dynamic ones and type-only ones included)', () => {
    // A scan that found nothing would pass the checks below vacuously.
    expect(imported.get('@nestjs/common')?.length).toBeGreaterThan(5);
    expect(imported.get('busboy')).toContain('src/credentials/http/multipart-project.ts');
    expect(imported.get('@aws-sdk/s3-request-presigner')).toBeDefined(); // import('...')
    expect(imported.get('@nestjs/testing')).toEqual(['src/credentials/testing/index.ts']); // type
  });

  it('imports only packages that are a dependency or a declared peer', () => {
    const undeclared = [...imported]
      .filter(([name]) => !Object.hasOwn(declared, name))
      .map(([name, files]) => `${name} (imported by ${files.join(', ')})`);
    expect(undeclared).toEqual([]);
  });

  it('declares as optional every peer beyond Nest itself', () => {
    const optional = Object.keys(packageJson.peerDependencies).filter(
      (name) => packageJson.peerDependenciesMeta[name]?.optional === true,
    );
    expect(
      Object.keys(packageJson.peerDependencies)
        .filter((name) => !optional.includes(name))
        .sort(),
    ).toEqual(REQUIRED_PEERS);
  });

  it('declares no peer that nothing imports, but for what the app itself runs on', () => {
    const unused = Object.keys(packageJson.peerDependencies).filter((name) => !imported.has(name));
    expect(unused.filter((name) => !DECLARED_FOR_THE_APP.includes(name))).toEqual([]);
  });

  it('is developed and tested against every peer it declares', () => {
    const untested = Object.keys(packageJson.peerDependencies).filter(
      (name) => !Object.hasOwn(packageJson.devDependencies, name),
    );
    expect(untested).toEqual([]);
  });
});
