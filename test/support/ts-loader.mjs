/**
 * Lets a child `node` process run the TypeScript sources as they are, the way Jest does:
 * `node --import ./test/support/ts-loader.mjs child.ts`. Each `.ts` module is transpiled on
 * load (types dropped, no type check) and `./x.js` imports find `./x.ts`. For tests that must
 * run code in a process of its own (under `ulimit`, or one that may be killed).
 */
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import ts from 'typescript';

// Imported with --import (main thread): install this file as the module hooks.
if (isMainThread) register(import.meta.url);

const COMPILER_OPTIONS = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  useDefineForClassFields: false,
  isolatedModules: true,
};

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const relative = /^(\.{1,2}\/|\/|file:)/.test(specifier);
    if (!relative || !specifier.endsWith('.js')) throw err;
    return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: COMPILER_OPTIONS,
    fileName: url,
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
