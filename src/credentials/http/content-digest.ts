import { BadRequestException } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';

/** The headers that may carry the SHA-256 of a PUT's body (RFC 9530). */
const DIGEST_HEADERS = ['content-digest', 'repr-digest'] as const;

/** The form field of a POST that carries the SHA-256 (hex), sent before the file part. */
export const SHA256_FORM_FIELD = 'sha256';

const KEY = /^[a-z*][a-z0-9_\-.*]*/;
const TOKEN = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*/;
const NUMBER = /^-?\d+(\.\d+)?/;
const BYTES = /^:([A-Za-z0-9+/=]*):/;
const STRING = /^"((?:[^"\\]|\\["\\])*)"/;

/** A bare item of RFC 8941 as far as a digest needs it: a byte sequence, or anything else. */
type BareItem = { bytes: Buffer } | { other: true };

class Malformed extends Error {}

/**
 * The members of an RFC 8941 dictionary (keys and bare items; parameters are read and dropped;
 * a later member of the same key wins, as the RFC says). Throws `Malformed` on any syntax error.
 */
function parseDictionary(text: string): Map<string, BareItem> {
  const members = new Map<string, BareItem>();
  let rest = text.trim();
  const take = (pattern: RegExp): RegExpExecArray | null => {
    const match = pattern.exec(rest);
    if (match) rest = rest.slice(match[0].length);
    return match;
  };
  const bareItem = (): BareItem => {
    const bytes = take(BYTES);
    if (bytes) return { bytes: Buffer.from(bytes[1], 'base64') };
    if (take(STRING) || take(TOKEN) || take(NUMBER) || take(/^\?[01]/)) return { other: true };
    throw new Malformed();
  };
  const parameters = () => {
    while (rest.startsWith(';')) {
      rest = rest.slice(1).trimStart();
      if (!take(KEY)) throw new Malformed();
      if (rest.startsWith('=')) {
        rest = rest.slice(1);
        bareItem();
      }
    }
  };
  while (rest.length > 0) {
    const key = take(KEY);
    if (!key) throw new Malformed();
    let item: BareItem = { other: true };
    if (rest.startsWith('=')) {
      rest = rest.slice(1);
      if (rest.startsWith('(')) throw new Malformed(); // an inner list: no digest is one
      item = bareItem();
    }
    parameters();
    members.set(key[0], item);
    rest = rest.trimStart();
    if (rest.length === 0) break;
    if (!rest.startsWith(',')) throw new Malformed();
    rest = rest.slice(1).trimStart();
    if (rest.length === 0) throw new Malformed(); // a trailing comma
  }
  return members;
}

/** The SHA-256 of one digest header as lower-case hex, `undefined` when it names none. */
function sha256Of(name: string, value: string): string | undefined {
  let members: Map<string, BareItem>;
  try {
    members = parseDictionary(value);
  } catch {
    throw new BadRequestException(`The ${name} header is not a valid RFC 9530 digest field`);
  }
  const item = members.get('sha-256');
  if (item === undefined) return undefined;
  if (!('bytes' in item) || item.bytes.length !== 32) {
    throw new BadRequestException(
      `The sha-256 value of the ${name} header must be the 32-byte digest as :base64:`,
    );
  }
  return item.bytes.toString('hex');
}

/**
 * The SHA-256 a client announced for a request's body, from `Content-Digest` and
 * `Repr-Digest` (RFC 9530; other algorithms are ignored), as lower-case hex for
 * `uploadProject(..., { sha256 })`; `undefined` when neither header has one. A malformed
 * header, a malformed sha-256 value, or two headers that disagree are a 400.
 */
export function announcedSha256(headers: IncomingHttpHeaders): string | undefined {
  let found: { name: string; sha256: string } | undefined;
  for (const name of DIGEST_HEADERS) {
    const raw = headers[name];
    if (raw === undefined) continue;
    const sha256 = sha256Of(name, Array.isArray(raw) ? raw.join(', ') : raw);
    if (sha256 === undefined) continue;
    if (found && found.sha256 !== sha256) {
      throw new BadRequestException(
        `The ${found.name} and ${name} headers name different SHA-256s`,
      );
    }
    found ??= { name, sha256 };
  }
  return found?.sha256;
}
