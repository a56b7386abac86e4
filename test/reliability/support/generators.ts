/**
 * fast-check generators of project names and bodies, and the rules they are judged by, written
 * here from the contract (not taken from the library): a name is 1-255 characters of
 * [A-Za-z0-9._-], starts with a letter or digit and has no ".."; a body starts with a ZIP
 * signature (PK\x03\x04, or PK\x05\x06 for an empty archive) and is at most the maximum size.
 */
import fc from 'fast-check';
import { Readable } from 'node:stream';
import type { ProjectBody } from '../../../src/credentials/index.js';

const isAlnum = (ch: string) => /^[A-Za-z0-9]$/.test(ch);
const isAllowed = (ch: string) => isAlnum(ch) || ch === '.' || ch === '_' || ch === '-';

/** The contract's verdict on a project name. */
export function nameIsValid(name: string): boolean {
  if (name.length < 1 || name.length > 255) return false;
  for (const ch of name) if (!isAllowed(ch)) return false;
  return (
    isAlnum(name[0]) &&
    !name.includes('..') &&
    !name.endsWith('.') &&
    !/^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)/i.test(name)
  );
}

const ALLOWED = [...'abcxyzABCXYZ0189', '.', '_', '-'];
const FRAGMENTS = [
  ...ALLOWED,
  '..',
  '/',
  '\\',
  '%2e',
  '%2f',
  '%2F',
  '%5c',
  '%00',
  '%',
  '~',
  ' ',
  '\t',
  '\n',
  '\u0000',
  '\u2024',
  '\uff0e',
  '\u3002',
  '\u2215',
  '\uff0f',
  '\u00e9',
  'e\u0301',
  '\u202e',
  '\u200b',
  '\ud800',
  '\u{1f600}',
  '.meta',
  '.tmp',
  'a'.repeat(60),
  // Windows device names: refused alone or before a dot, accepted inside a longer word.
  'CON',
  'nul',
  'Com1',
  'LPT9',
];

/** Names of every kind: arbitrary strings, near-valid ones, and traversal-heavy mixes. */
export const nameArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 24 }),
  // Only allowed characters: mostly valid, so that length, first character and ".." decide.
  fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 1, maxLength: 280 }),
  fc
    .array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 12 })
    .map((parts) => parts.join('')),
  fc
    .tuple(
      fc.string({ unit: fc.constantFrom(...ALLOWED), minLength: 1, maxLength: 20 }),
      fc.constantFrom(...FRAGMENTS),
      fc.string({ unit: fc.constantFrom(...ALLOWED), maxLength: 20 }),
    )
    .map(([a, b, c]) => `${a}${b}${c}`),
);

const SIGNATURES = [
  [0x50, 0x4b, 0x03, 0x04],
  [0x50, 0x4b, 0x05, 0x06],
  [0x50, 0x4b, 0x03, 0x05],
  [0x50, 0x4b, 0x07, 0x08],
  [0x50, 0x4b, 0x01, 0x02],
  [0x50, 0x4b],
  [0x50],
  [0x70, 0x6b, 0x03, 0x04],
  [],
].map((bytes) => Buffer.from(bytes));

export interface GeneratedBody {
  bytes: Buffer;
  /** Sent as a stream cut in these chunk sizes (cycled), or as a Buffer when empty. */
  chunks: number[];
}

/** Bodies around `max`: valid and near-valid signatures, random bytes, sizes across the limit. */
export function bodyArbitrary(max: number): fc.Arbitrary<GeneratedBody> {
  return fc
    .record({
      signature: fc.constantFrom(...SIGNATURES),
      rest: fc.oneof(
        fc.uint8Array({ maxLength: 256 }),
        fc.integer({ min: 0, max: max + 64 }).map((n) => new Uint8Array(n).fill(0x41)),
        fc
          .constantFrom(max - 4, max - 3, max + 1)
          .map((n) => new Uint8Array(Math.max(0, n)).fill(7)),
      ),
      chunks: fc.oneof(
        fc.constant<number[]>([]),
        fc.array(fc.integer({ min: 1, max: 2048 }), { minLength: 1, maxLength: 6 }),
      ),
    })
    .map(({ signature, rest, chunks }) => ({
      bytes: Buffer.concat([signature, Buffer.from(rest)]),
      chunks,
    }));
}

/** The contract's verdict on a body: accepted, or the reasons a refusal may give. */
export function bodyVerdict(bytes: Buffer, max: number): { valid: boolean; reasons: string[] } {
  const head = bytes.subarray(0, 4).toString('hex');
  const zip = bytes.length >= 4 && (head === '504b0304' || head === '504b0506');
  const reasons: string[] = [];
  if (!zip) reasons.push('not-zip');
  if (bytes.length > max) reasons.push('too-large');
  return { valid: reasons.length === 0, reasons };
}

export function bodyOf({ bytes, chunks }: GeneratedBody): ProjectBody {
  if (chunks.length === 0) return Buffer.from(bytes);
  const parts: Buffer[] = [];
  for (let i = 0, c = 0; i < bytes.length; c++) {
    const size = chunks[c % chunks.length];
    parts.push(bytes.subarray(i, i + size));
    i += size;
  }
  return Readable.from(parts, { objectMode: false });
}
