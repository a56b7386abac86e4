/**
 * The secret scan over the whole reliability suite (issue 5, after the scan of issue 4 in
 * test/integration/secret-scan.spec.ts, which also captures log lines).
 *
 * security.spec.ts ends the run by calling `scanForSecrets()` over everything the suite kept
 * with `evidence()` / `errorEvidence()` (support/results.ts): every error message, `JSON` and
 * `inspect` form of the errors the library threw, and every HTTP answer (status, headers, body)
 * of the bad-input and security specs. It looks for the secrets this suite configured (storage
 * keys, registry password, API token, ECR password, token, secret key and session token) and
 * for secret-shaped patterns. Log lines are kept too (log-evidence.ts).
 * Each finding fails the run and is listed in RELIABILITY.md.
 */
import { AUTH_REGISTRY, S3_SERVER } from '../../support/test-servers.js';

export interface ScannedText {
  source: string;
  text: string;
}

export interface SecretFinding {
  source: string;
  /** Which of the scanned texts. */
  index: number;
  /** What was found, described without repeating the secret. */
  what: string;
}

/** The API token every reliability app is started with. */
export const RELIABILITY_API_TOKEN = 'reliability-api-token-6f1c9e2b7d4a8035';
/** The password inside the tokens of the loopback ECR endpoint. */
export const ECR_PASSWORD = 'ecr-password-for-reliability-7c1d';
/** The secret key of the `aws` backend's loopback ECR client. */
export const ECR_SECRET_KEY = 'ecr-secret-key-for-reliability-55a2';
/** The session token (temporary keys) of the same client. */
export const ECR_SESSION_TOKEN = 'ecr-session-token-for-reliability-IQoJb3JpZ2lu+93e/Aw==';

/** Secret values the suite configured; none may appear in anything the library shows. */
export function knownSecrets(): { name: string; value: string }[] {
  return [
    { name: 'S3 secret key', value: S3_SERVER.secretKey },
    { name: 'second S3 account secret key', value: S3_SERVER.otherAccount.secretKey },
    { name: 'registry password', value: AUTH_REGISTRY.password },
    { name: 'API token', value: RELIABILITY_API_TOKEN },
    { name: 'ECR password', value: ECR_PASSWORD },
    { name: 'ECR token (base64 of AWS:password)', value: btoa(`AWS:${ECR_PASSWORD}`) },
    { name: 'ECR client secret key', value: ECR_SECRET_KEY },
    { name: 'ECR client session token', value: ECR_SESSION_TOKEN },
  ];
}

const PATTERNS: { what: string; pattern: RegExp }[] = [
  { what: 'an AWS access key id', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: 'a private key block', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { what: 'a SigV4 signature', pattern: /Signature=[0-9a-f]{64}/ },
  {
    // A scheme and a token-like value (not a placeholder such as "Bearer <token>").
    what: 'a credential in an Authorization header',
    pattern:
      /authorization["']?\s*[:=]\s*["']?(?:Bearer|Basic|AWS4-HMAC-SHA256)\s+[A-Za-z0-9._~+/=-]{16,}/i,
  },
];

const escape = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What in `texts` looks like a secret. */
export async function scanForSecrets(texts: ScannedText[]): Promise<SecretFinding[]> {
  const findings: SecretFinding[] = [];
  // Short secrets ("testing") are matched as whole words only, so that ordinary words around
  // them do not count.
  const secrets = knownSecrets().map(({ name, value }) => ({
    name,
    pattern: new RegExp(
      value.length < 12 ? `(?<![\\w-])${escape(value)}(?![\\w-])` : escape(value),
    ),
  }));
  texts.forEach(({ source, text }, index) => {
    for (const { name, pattern } of secrets) {
      if (pattern.test(text)) findings.push({ source, index, what: `the ${name}` });
    }
    for (const { what, pattern } of PATTERNS) {
      if (pattern.test(text)) findings.push({ source, index, what });
    }
  });
  return findings;
}
