import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TransferTuning } from './transfer-tuning.js';
import { CredentialsConfigError } from '../errors.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export type TransferSettings = Required<TransferTuning>;

export const DEFAULT_TRANSFER_SETTINGS: TransferSettings = {
  maxProjectSize: GiB,
  partSize: 8 * MiB,
  partConcurrency: 4,
  requestTimeoutMs: 30_000,
  uploadTimeoutMs: 30 * 60_000,
  spoolDir: tmpdir(),
  signParts: false,
};

type NumericSetting = Exclude<keyof TransferSettings, 'spoolDir' | 'signParts'>;

const LIMITS: Record<NumericSetting, [min: number, max: number]> = {
  // A project is a source archive; 5 GiB stays far inside the 10,000 parts of a multipart upload.
  maxProjectSize: [22, 5 * GiB],
  partSize: [5 * MiB, 512 * MiB],
  partConcurrency: [1, 64],
  requestTimeoutMs: [100, 3_600_000],
  uploadTimeoutMs: [1_000, 24 * 3_600_000],
};

/** The module options' transfer tuning, with defaults, checked all at once. */
export function resolveTransferSettings(options: TransferTuning = {}): TransferSettings {
  const settings = { ...DEFAULT_TRANSFER_SETTINGS };
  const problems: string[] = [];
  for (const key of Object.keys(LIMITS) as NumericSetting[]) {
    const value = options[key];
    if (value === undefined) continue;
    const [min, max] = LIMITS[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`option ${key} must be an integer from ${min} to ${max} (got ${value})`);
    } else {
      settings[key] = value;
    }
  }
  if (options.spoolDir !== undefined) {
    if (typeof options.spoolDir !== 'string' || !path.isAbsolute(options.spoolDir)) {
      problems.push('option spoolDir must be an absolute directory path');
    } else {
      settings.spoolDir = options.spoolDir;
    }
  }
  if (options.signParts !== undefined) {
    if (typeof options.signParts !== 'boolean') {
      problems.push('option signParts must be true or false');
    } else {
      settings.signParts = options.signParts;
    }
  }
  if (problems.length > 0) throw new CredentialsConfigError(problems);
  return settings;
}
