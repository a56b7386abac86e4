/**
 * The bad-input corpus of the reliability suite: project names, bodies, bucket names and
 * configuration values that every backend must refuse with a typed error, writing nothing.
 * Each entry is named for RELIABILITY.md; bodies are factories (a stream is read once).
 */
import { Readable } from 'node:stream';
import type { ProjectBody } from '../../../src/credentials/index.js';
import type { CorpusCase } from './results.js';

const LOCAL_FILE_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** A ZIP-looking body of `size` bytes (local file header, then a pattern). */
export function zipBody(size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 13 + 7) % 251;
  LOCAL_FILE_HEADER.copy(data, 0, 0, Math.min(4, size));
  return data;
}

const named = <T>(name: string, input: T): CorpusCase<T> => ({ name, input });

/** Names that any spelling of "go up a directory" or "another folder" takes. */
function traversalNames(): string[] {
  const up = [
    '..',
    '.',
    '...',
    '....',
    '../',
    '..\\',
    '../x.zip',
    '..\\x.zip',
    '../../etc/passwd',
    '..\\..\\windows\\win.ini',
    '....//x.zip',
    '....\\\\x.zip',
    '..;/x.zip',
    '..%2fx.zip',
    '..%2Fx.zip',
    '..%5cx.zip',
    '..%5Cx.zip',
    '%2e%2e',
    '%2E%2E',
    '%2e%2e%2fx.zip',
    '%2e%2e/x.zip',
    '%2e./x.zip',
    '.%2e/x.zip',
    '%252e%252e%252fx.zip',
    '%25252e%25252e',
    '%c0%ae%c0%ae%c0%afx.zip',
    '%e0%80%ae%e0%80%ae/x.zip',
    '%c0%2e%c0%2e',
    '%c1%9c',
    '%uff0e%uff0e',
    'a/../b.zip',
    'a/./b.zip',
    'a/b.zip',
    'a\\b.zip',
    '/etc/passwd',
    '/x.zip',
    '\\\\server\\share',
    'C:\\x.zip',
    'C:x.zip',
    'file:///etc/passwd',
    'projects/../other.zip',
    'x.zip/..',
    'x.zip/.',
    'a..b',
    'a..',
    'project..zip',
    '1..2',
    'a.-..zip',
  ];
  // Unicode look-alikes of "." and "/", and what a lax decoder makes of overlong UTF-8.
  const lookalikes = [
    '\u2024\u2024/x.zip', // one dot leader
    '\u2025/x.zip', // two dot leader
    '\uff0e\uff0e/x.zip', // fullwidth full stop
    '\u3002\u3002/x.zip', // ideographic full stop
    '\ufe52\ufe52/x.zip', // small full stop
    '\u0701\u0701', // syriac supralinear full stop
    '..\u2215x.zip', // division slash
    '..\u2044x.zip', // fraction slash
    '..\uff0fx.zip', // fullwidth solidus
    '..\u29f8x.zip', // big solidus
    '..\uff3cx.zip', // fullwidth reverse solidus
    '.\u0338.', // combining long solidus overlay
    Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0xc0, 0xaf]).toString('latin1'),
    Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0xc0, 0xaf]).toString('utf8'),
    Buffer.from([0xe0, 0x80, 0xae, 0xe0, 0x80, 0xae]).toString('latin1'),
    Buffer.from([0xf0, 0x80, 0x80, 0xae]).toString('latin1'),
  ];
  return [...up, ...lookalikes];
}

function controlAndUnicodeNames(): { name: string; value: string }[] {
  const names: { name: string; value: string }[] = [];
  for (let code = 0; code < 0x20; code++) {
    names.push({
      name: `C0 control U+${code.toString(16).padStart(4, '0')}`,
      value: `a${String.fromCharCode(code)}b.zip`,
    });
  }
  names.push({ name: 'DEL', value: 'a\u007fb.zip' });
  for (const code of [0x80, 0x85, 0x8d, 0x9b, 0x9f]) {
    names.push({
      name: `C1 control U+${code.toString(16).padStart(4, '0')}`,
      value: `a${String.fromCharCode(code)}b.zip`,
    });
  }
  const unicode: [string, string][] = [
    ['NUL at the end', 'project.zip\u0000'],
    ['NUL then a traversal', 'x.zip\u0000../../etc/passwd'],
    ['zero width space', 'a\u200bb.zip'],
    ['zero width joiner', 'a\u200db.zip'],
    ['byte order mark', '\ufeffproject.zip'],
    ['right-to-left override', 'project\u202ediz.exe'],
    ['no-break space', 'a\u00a0b.zip'],
    ['ideographic space', 'a\u3000b.zip'],
    ['line separator', 'a\u2028b.zip'],
    ['paragraph separator', 'a\u2029b.zip'],
    ['precomposed e acute', 'caf\u00e9.zip'],
    ['decomposed e acute', 'cafe\u0301.zip'],
    ['Cyrillic a look-alike', '\u0430pp.zip'],
    ['Greek omicron look-alike', 'pr\u03bfject.zip'],
    ['emoji', 'project-\u{1f600}.zip'],
    ['lone high surrogate', 'a\ud800b.zip'],
    ['lone low surrogate', 'a\udc00b.zip'],
    ['replacement character', 'a\ufffdb.zip'],
    ['Chinese', '\u9879\u76ee.zip'],
    ['Arabic', '\u0645\u0634\u0631\u0648\u0639.zip'],
    ['fullwidth letters', '\uff50\uff52\uff4f\uff4a.zip'],
    ['mathematical bold letters', '\u{1d429}\u{1d42b}\u{1d428}.zip'],
    ['Kelvin sign', '\u212a.zip'],
    ['dotless i', 'proj\u0131ct.zip'],
    ['non-character U+FFFF', 'a\uffffb.zip'],
    ['private use', 'a\ue000b.zip'],
    ['tag character', 'a\u{e0041}b.zip'],
  ];
  for (const [name, value] of unicode) names.push({ name, value });
  return names;
}

/** Printable ASCII characters outside [A-Za-z0-9._-], each inside an otherwise valid name. */
function punctuationNames(): { name: string; value: string }[] {
  const names: { name: string; value: string }[] = [];
  for (let code = 0x20; code < 0x7f; code++) {
    const ch = String.fromCharCode(code);
    if (/[A-Za-z0-9._-]/.test(ch)) continue;
    names.push({ name: `character ${JSON.stringify(ch)}`, value: `a${ch}b.zip` });
  }
  return names;
}

/** Project names every backend must refuse (`InvalidProjectError`, reason `name`). */
export function badNames(): CorpusCase<unknown>[] {
  const cases: CorpusCase<unknown>[] = [];
  for (const value of traversalNames())
    cases.push(named(`traversal ${JSON.stringify(value)}`, value));
  for (const { name, value } of controlAndUnicodeNames()) cases.push(named(name, value));
  for (const { name, value } of punctuationNames()) cases.push(named(name, value));
  const lengthAndShape: [string, string][] = [
    ['empty', ''],
    ['one space', ' '],
    ['spaces', '   '],
    ['tab', '\t'],
    ['newline', '\n'],
    ['256 characters', 'a'.repeat(256)],
    ['257 characters', 'a'.repeat(257)],
    ['1,000 characters', 'a'.repeat(1_000)],
    ['100,000 characters', 'a'.repeat(100_000)],
    ['4 MiB of characters', 'a'.repeat(4 * 1024 * 1024)],
    ['255 characters plus a slash', `${'a'.repeat(254)}/`],
    ['leading dot', '.hidden.zip'],
    ['only an extension', '.zip'],
    ['leading dash', '-rf'],
    ['double leading dash', '--help'],
    ['single dash', '-'],
    ['leading underscore', '_private.zip'],
    ['leading space', ' project.zip'],
    ['trailing space', 'project.zip '],
    ['.meta (filesystem metadata)', '.meta'],
    ['.tmp (filesystem temporary files)', '.tmp'],
    ['.meta/x (filesystem metadata)', '.meta/x.zip'],
    ['trailing dot (dropped on Windows)', 'project.'],
    ['one letter and a trailing dot', 'a.'],
    ['Windows device CON', 'CON'],
    ['Windows device nul.zip', 'nul.zip'],
    ['Windows device COM1.zip', 'COM1.zip'],
    ['Windows device Lpt9.tar.gz', 'Lpt9.tar.gz'],
    ['Windows device aux.', 'aux.'],
  ];
  for (const [name, value] of lengthAndShape) cases.push(named(name, value));
  const notStrings: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['number 0', 0],
    ['number 42', 42],
    ['NaN', Number.NaN],
    ['true', true],
    ['object', {}],
    ['array', []],
    ['array of a name', ['project.zip']],
    ['Buffer of a name', Buffer.from('project.zip')],
    ['String object', new String('project.zip')],
    ['object whose toString is a traversal', { toString: () => '../x.zip' }],
    ['symbol', Symbol('project.zip')],
    ['function', () => 'project.zip'],
    ['bigint', 10n],
  ];
  for (const [name, value] of notStrings) cases.push(named(`not a string: ${name}`, value));
  return cases;
}

/** Names every backend must accept: the controls that show the refusals are not blanket. */
export function goodNames(): CorpusCase<string>[] {
  return [
    named('one letter', 'a'),
    named('one digit', '0'),
    named('255 characters', 'a'.repeat(255)),
    named('every allowed character', 'aZ09._-x.zip'),
    named('dots apart', 'a.b.c.zip'),
    named('a device name inside a word', 'console.zip'),
    named('COM0 and COM10 (not devices)', 'COM0.COM10.zip'),
    named('trailing dash', 'project-'),
    named('digits and dashes', '2024-01-01_build.zip'),
  ];
}

function streamOf(data: Buffer, chunk = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) chunks.push(data.subarray(i, i + chunk));
  return Readable.from(chunks, { objectMode: false });
}

export interface BadBody {
  body: () => ProjectBody;
  /** The `InvalidProjectError` reasons that are right for it. */
  reasons: string[];
}

/**
 * Bodies every backend must refuse, for a backend whose maximum is `max` bytes and whose parts
 * are `partSize` bytes (so that streams longer than a part take the streaming path).
 */
export function badBodies(max: number, partSize: number): CorpusCase<BadBody>[] {
  const notZip = ['not-zip'];
  const fromBytes = (label: string, bytes: Buffer): CorpusCase<BadBody>[] => [
    named(`${label} (Buffer)`, { body: () => Buffer.from(bytes), reasons: notZip }),
    named(`${label} (Uint8Array view)`, {
      body: () => {
        const padded = Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), bytes]);
        return new Uint8Array(padded.buffer, padded.byteOffset + 4, bytes.length);
      },
      reasons: notZip,
    }),
    named(`${label} (stream, 1-byte chunks)`, { body: () => streamOf(bytes, 1), reasons: notZip }),
  ];
  const signatures: [string, Buffer][] = [
    ['empty body', Buffer.alloc(0)],
    ['"P"', Buffer.from('P')],
    ['"PK"', Buffer.from('PK')],
    ['truncated signature PK\\x03', Buffer.from('PK\x03', 'latin1')],
    ['truncated signature PK\\x05', Buffer.from('PK\x05', 'latin1')],
    ['PK\\x03\\x05', Buffer.from('PK\x03\x05 rest', 'latin1')],
    ['spanned-archive marker PK\\x07\\x08', Buffer.from('PK\x07\x08 rest', 'latin1')],
    ['central directory PK\\x01\\x02', Buffer.from('PK\x01\x02 rest', 'latin1')],
    ['ZIP64 end record PK\\x06\\x06', Buffer.from('PK\x06\x06 rest', 'latin1')],
    ['lower-case pk\\x03\\x04', Buffer.from('pk\x03\x04 rest', 'latin1')],
    ['KP\\x03\\x04', Buffer.from('KP\x03\x04 rest', 'latin1')],
    ['gzip', Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3])],
    ['bzip2', Buffer.from('BZh91AY&SY', 'latin1')],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
    ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])],
    ['rar', Buffer.from('Rar!\x1a\x07\x00', 'latin1')],
    ['PDF', Buffer.from('%PDF-1.7\n', 'latin1')],
    ['PNG', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
    ['ELF executable', Buffer.from('\x7fELF\x02\x01\x01', 'latin1')],
    ['Windows executable', Buffer.from('MZ\x90\x00', 'latin1')],
    ['shell script', Buffer.from('#!/bin/sh\nrm -rf /\n')],
    ['JSON', Buffer.from('{"project":"x.zip"}')],
    ['HTML', Buffer.from('<!doctype html><title>x</title>')],
    ['UTF-8 BOM before PK', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), LOCAL_FILE_HEADER])],
    ['UTF-16 BOM before PK', Buffer.concat([Buffer.from([0xff, 0xfe]), LOCAL_FILE_HEADER])],
    ['space before PK', Buffer.concat([Buffer.from(' '), LOCAL_FILE_HEADER])],
    ['newline before PK', Buffer.concat([Buffer.from('\n'), LOCAL_FILE_HEADER])],
    ['1,000 NUL bytes', Buffer.alloc(1_000)],
    ['1,000 0xFF bytes', Buffer.alloc(1_000, 0xff)],
    ['base64 of a ZIP', Buffer.from(zipBody(200).toString('base64'))],
    ['hex of a ZIP', Buffer.from(zipBody(200).toString('hex'))],
  ];
  const cases = signatures.flatMap(([label, bytes]) => fromBytes(label, bytes));
  const overSize: [string, () => ProjectBody][] = [
    ['ZIP one byte over the maximum (Buffer)', () => zipBody(max + 1)],
    ['ZIP one byte over the maximum (stream)', () => streamOf(zipBody(max + 1))],
    ['ZIP twice the maximum (stream, 1 MiB chunks)', () => streamOf(zipBody(2 * max), 1024 * 1024)],
    [
      'ZIP past the maximum after one part (stream)',
      () => streamOf(zipBody(partSize + (max - partSize) + 1)),
    ],
  ];
  for (const [label, body] of overSize) cases.push(named(label, { body, reasons: ['too-large'] }));
  const nonZipLarge = Buffer.alloc(partSize + 1024, 0x41);
  cases.push(
    named('non-ZIP longer than a part (stream)', {
      body: () => streamOf(nonZipLarge),
      reasons: notZip,
    }),
  );
  const broken: [string, () => ProjectBody, string[]][] = [
    [
      'stream failing before its first byte',
      () =>
        new Readable({
          read() {
            this.destroy(new Error('client went away'));
          },
        }),
      ['unreadable'],
    ],
    [
      'stream failing after the signature',
      () =>
        Readable.from(
          (async function* () {
            yield zipBody(1024);
            throw new Error('connection reset by peer');
          })(),
          { objectMode: false },
        ),
      ['unreadable'],
    ],
    [
      'stream failing after one part',
      () =>
        Readable.from(
          (async function* () {
            yield zipBody(partSize);
            yield zipBody(1024);
            throw new Error('connection reset by peer');
          })(),
          { objectMode: false },
        ),
      ['unreadable'],
    ],
    [
      'stream already destroyed',
      () => {
        const stream = streamOf(zipBody(1024));
        stream.destroy();
        return stream;
      },
      ['unreadable', 'not-zip'],
    ],
    [
      'object-mode stream of objects',
      () => Readable.from([{ a: 1 }, { b: 2 }], { objectMode: true }),
      ['unreadable', 'not-zip'],
    ],
    [
      'object-mode stream of numbers',
      () => Readable.from([80, 75, 3, 4], { objectMode: true }),
      ['unreadable', 'not-zip'],
    ],
    [
      'a string, not bytes',
      () => 'PK\x03\x04 as text' as unknown as ProjectBody,
      ['not-zip', 'argument', 'unreadable'],
    ],
    ['null', () => null as unknown as ProjectBody, ['not-zip', 'argument', 'unreadable']],
    ['undefined', () => undefined as unknown as ProjectBody, ['not-zip', 'argument', 'unreadable']],
    ['a number', () => 42 as unknown as ProjectBody, ['not-zip', 'argument', 'unreadable']],
    [
      'an array of bytes',
      () => [0x50, 0x4b, 3, 4] as unknown as ProjectBody,
      ['not-zip', 'argument', 'unreadable'],
    ],
    [
      'an ArrayBuffer',
      () => zipBody(100).buffer as unknown as ProjectBody,
      ['not-zip', 'argument', 'unreadable'],
    ],
    [
      'a plain object',
      () => ({ pipe: 1 }) as unknown as ProjectBody,
      ['not-zip', 'argument', 'unreadable'],
    ],
  ];
  for (const [label, body, reasons] of broken) cases.push(named(label, { body, reasons }));
  return cases;
}

/** Bucket names `downloadProject` and `BUCKET_NAME_PROJECTS` must refuse. */
export function badBuckets(): CorpusCase<unknown>[] {
  const values: [string, unknown][] = [
    ['empty', ''],
    ['one character', 'a'],
    ['two characters', 'ab'],
    ['64 characters', 'a'.repeat(64)],
    ['upper case', 'Projects'],
    ['underscore', 'my_projects'],
    ['space', 'my projects'],
    ['traversal', '../etc'],
    ['dot dot', '..'],
    ['double dot inside', 'bu..cket'],
    ['leading dot', '.projects'],
    ['trailing dot', 'projects.'],
    ['leading dash', '-projects'],
    ['trailing dash', 'projects-'],
    ['IPv4 address', '192.168.1.1'],
    ['slash', 'projects/other'],
    ['encoded slash', 'projects%2fother'],
    ['backslash', 'projects\\other'],
    ['NUL', 'projects\u0000'],
    ['newline', 'projects\n'],
    ['non-ASCII', 'pr\u00f6jects'],
    ['fullwidth', '\uff50\uff52\uff4f\uff4a'],
    ['URL', 'http://evil.example/projects'],
    ['colon', 'projects:1'],
    ['not a string: null', null],
    ['not a string: number', 12345],
    ['not a string: object', {}],
  ];
  return values.map(([name, value]) => named(name, value));
}
