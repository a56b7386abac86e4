import { redact, watchCredentialsRecord, watchSecret } from './redact.js';

describe('redact', () => {
  it('masks the secret values of a watched credentials record, and keeps public settings', () => {
    const record: Record<string, string | null> = {
      MINIO_SECRET_KEY: 'minio-Secret-9911',
      AWS_ACCESS_KEY_ID: 'AKIAREDACTME01',
      BUCKET_NAME_PROJECTS: 'projects-bucket',
      REGISTRY_HOST: '127.0.0.1:5000',
    };
    watchCredentialsRecord(record);
    const line = redact(
      'key AKIAREDACTME01 secret minio-Secret-9911 bucket projects-bucket at 127.0.0.1:5000',
    );
    expect(line).toBe('key [redacted] secret [redacted] bucket projects-bucket at 127.0.0.1:5000');
  });

  it('masks values added to a watched record after it was registered', () => {
    const record: Record<string, string | null> = {};
    watchCredentialsRecord(record);
    record.GCP_KEY = 'gcp-late-secret-77';
    expect(redact('gcp-late-secret-77')).toBe('[redacted]');
  });

  it('masks loose secrets such as fetched registry tokens', () => {
    watchSecret('QVdTOnRva2VuLXZhbHVl');
    expect(redact('token QVdTOnRva2VuLXZhbHVl!')).toBe('token [redacted]!');
  });

  it('masks auth headers and SigV4 signatures whoever wrote them', () => {
    expect(redact('Authorization: Bearer abc.def-123')).toBe('Authorization: Bearer [redacted]');
    expect(redact('authorization: Basic ZXN0ZWxhOnB3')).toBe('authorization: Basic [redacted]');
    expect(redact('GET /x?X-Amz-Signature=abcdef0123&X-Amz-Date=1')).toBe(
      'GET /x?X-Amz-Signature=[redacted]&X-Amz-Date=1',
    );
    expect(redact('x-amz-security-token: IQoJb3JpZ2luX2Vj+EJr//wEaCXVz=, next')).toBe(
      'x-amz-security-token: [redacted], next',
    );
    expect(redact('{"X-Amz-Security-Token":"IQoJb3JpZ2luX2Vj"}')).toBe(
      '{"X-Amz-Security-Token":"[redacted]"}',
    );
  });

  it('masks short secrets too, as whole tokens, so ordinary words are not masked', () => {
    watchCredentialsRecord({ REGISTRY_PASSWORD: 'pw', OTHER_KEY: 'k3y9' });
    expect(redact('a pw b')).toBe('a [redacted] b');
    expect(redact('login builder:pw@registry')).toBe('login builder:[redacted]@registry');
    expect(redact('"k3y9"')).toBe('"[redacted]"');
    expect(redact('a password, a k3y9x, a pwd')).toBe('a password, a k3y9x, a pwd');
  });

  it('masks short loose secrets as whole tokens', () => {
    watchSecret('t0k');
    expect(redact('token t0k, not t0ken')).toBe('token [redacted], not t0ken');
  });

  it('masks the password of a URL with user info, whoever wrote it', () => {
    expect(redact('connect http://minio:unknown-pass@127.0.0.1:9000/x')).toBe(
      'connect http://minio:[redacted]@127.0.0.1:9000/x',
    );
  });
});
