import { describe, expect, it } from '@jest/globals';
import { CredentialsConfigError } from '../errors.js';
import { DEFAULT_TRANSFER_SETTINGS, resolveTransferSettings } from './transfer-settings.js';

const MiB = 1024 * 1024;

function problemsOf(options: Parameters<typeof resolveTransferSettings>[0]): readonly string[] {
  try {
    resolveTransferSettings(options);
  } catch (err) {
    expect(err).toBeInstanceOf(CredentialsConfigError);
    return (err as CredentialsConfigError).problems;
  }
  throw new Error('expected a CredentialsConfigError');
}

describe('resolveTransferSettings', () => {
  it('gives the defaults: 8 MiB x 4 parts, parts unsigned', () => {
    expect(resolveTransferSettings()).toEqual(DEFAULT_TRANSFER_SETTINGS);
    expect(DEFAULT_TRANSFER_SETTINGS).toMatchObject({
      partSize: 8 * MiB,
      partConcurrency: 4,
      signParts: false,
    });
  });

  it('takes valid options', () => {
    const settings = resolveTransferSettings({
      partSize: 16 * MiB,
      partConcurrency: 2,
      signParts: true,
      spoolDir: '/var/spool/projects',
    });
    expect(settings).toMatchObject({
      partSize: 16 * MiB,
      partConcurrency: 2,
      signParts: true,
      spoolDir: '/var/spool/projects',
      maxProjectSize: DEFAULT_TRANSFER_SETTINGS.maxProjectSize,
    });
  });

  it('reports every invalid option at once', () => {
    const problems = problemsOf({
      partSize: MiB,
      partConcurrency: 0,
      spoolDir: 'relative/dir',
      signParts: 'yes' as unknown as boolean,
    });
    expect(problems).toEqual([
      expect.stringContaining('partSize'),
      expect.stringContaining('partConcurrency'),
      'option spoolDir must be an absolute directory path',
      'option signParts must be true or false',
    ]);
  });
});
