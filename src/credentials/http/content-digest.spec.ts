import { describe, expect, it } from '@jest/globals';
import { BadRequestException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { announcedSha256 } from './content-digest.js';

const digest = createHash('sha256').update('project').digest();
const hex = digest.toString('hex');
const b64 = digest.toString('base64');

describe('announcedSha256', () => {
  it.each([
    ['Content-Digest', { 'content-digest': `sha-256=:${b64}:` }],
    ['Repr-Digest', { 'repr-digest': `sha-256=:${b64}:` }],
    [
      'among other algorithms',
      { 'content-digest': `sha-512=:${'A'.repeat(88)}:, sha-256=:${b64}:` },
    ],
    ['with parameters and spaces', { 'content-digest': `  sha-256=:${b64}:;x=1 , md5=:AA==:` }],
    [
      'in both headers, the same',
      { 'content-digest': `sha-256=:${b64}:`, 'repr-digest': `sha-256=:${b64}:` },
    ],
    [
      'after an unknown algorithm with a string value',
      { 'content-digest': `x="a,b", sha-256=:${b64}:` },
    ],
  ])('reads the SHA-256 from %s as lower-case hex', (_label, headers) => {
    expect(announcedSha256(headers)).toBe(hex);
  });

  it.each([
    ['no digest header', {}],
    ['only other algorithms', { 'content-digest': `sha-512=:${'A'.repeat(88)}:` }],
  ])('gives undefined for %s', (_label, headers) => {
    expect(announcedSha256(headers)).toBeUndefined();
  });

  it.each([
    ['hex instead of :base64:', { 'content-digest': `sha-256=${hex}` }],
    ['a digest of the wrong length', { 'content-digest': 'sha-256=:AAAA:' }],
    ['a string value', { 'content-digest': `sha-256="${b64}"` }],
    ['no closing colon', { 'content-digest': `sha-256=:${b64}` }],
    ['a broken dictionary', { 'content-digest': `sha-256=:${b64}:,,` }],
    ['an upper-case key', { 'content-digest': `SHA-256=:${b64}:` }],
    [
      'two headers that disagree',
      {
        'content-digest': `sha-256=:${b64}:`,
        'repr-digest': `sha-256=:${Buffer.alloc(32).toString('base64')}:`,
      },
    ],
  ])('refuses %s with a 400', (_label, headers) => {
    expect(() => announcedSha256(headers)).toThrow(BadRequestException);
  });
});
