import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { FakeEcrServer, GET_AUTHORIZATION_TOKEN_TARGET } from './fake-ecr-server.js';

describe('FakeEcrServer (with the real @aws-sdk/client-ecr)', () => {
  let server: FakeEcrServer;
  let ecr: ECRClient;

  beforeEach(async () => {
    server = await FakeEcrServer.start();
    ecr = new ECRClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
  });

  afterEach(async () => {
    ecr.destroy();
    await server.close();
  });

  it('answers GetAuthorizationToken with the token, expiry and proxy endpoint', async () => {
    const expiresAt = new Date('2031-05-06T07:08:09.000Z');
    server.setToken('s3cr3t', expiresAt);

    const out = await ecr.send(new GetAuthorizationTokenCommand({}));

    const [data] = out.authorizationData ?? [];
    expect(Buffer.from(data.authorizationToken ?? '', 'base64').toString()).toBe('AWS:s3cr3t');
    expect(data.expiresAt).toBeInstanceOf(Date);
    expect(data.expiresAt?.toISOString()).toBe(expiresAt.toISOString());
    expect(data.proxyEndpoint).toBe('https://123456789012.dkr.ecr.us-east-1.amazonaws.com');
    expect(server.calls).toBe(1);
    expect(server.requests[0]).toMatchObject({
      target: GET_AUTHORIZATION_TOKEN_TARGET,
      region: 'us-east-1',
      accessKeyId: 'AKIDEXAMPLE',
    });
  });

  it('returns the configured proxy endpoints', async () => {
    server.setProxyEndpoints([
      'https://111111111111.dkr.ecr.eu-west-1.amazonaws.com',
      'https://222222222222.dkr.ecr.eu-west-1.amazonaws.com',
    ]);
    const out = await ecr.send(new GetAuthorizationTokenCommand({}));
    expect(out.authorizationData?.map((d) => d.proxyEndpoint)).toEqual([
      'https://111111111111.dkr.ecr.eu-west-1.amazonaws.com',
      'https://222222222222.dkr.ecr.eu-west-1.amazonaws.com',
    ]);
  });

  it('surfaces throttleNext() as ThrottlingException, then answers again', async () => {
    server.throttleNext(1);
    await expect(ecr.send(new GetAuthorizationTokenCommand({}))).rejects.toMatchObject({
      name: 'ThrottlingException',
      $metadata: expect.objectContaining({ httpStatusCode: 400 }),
    });
    await expect(ecr.send(new GetAuthorizationTokenCommand({}))).resolves.toBeDefined();
    expect(server.calls).toBe(2);
  });

  it('lets the SDK retry throttling and server errors', async () => {
    const retrying = new ECRClient({
      region: 'us-east-1',
      endpoint: server.url,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 3,
    });
    server.throttleNext(1);
    server.failNext(1, 503);
    try {
      const out = await retrying.send(new GetAuthorizationTokenCommand({}));
      expect(out.authorizationData).toHaveLength(1);
      expect(server.calls).toBe(3);
    } finally {
      retrying.destroy();
    }
  });

  it('surfaces failNext() with its HTTP status', async () => {
    server.failNext(1, 500);
    await expect(ecr.send(new GetAuthorizationTokenCommand({}))).rejects.toMatchObject({
      $metadata: expect.objectContaining({ httpStatusCode: 500 }),
    });
  });

  it('delays answers with hang()', async () => {
    server.hang(300);
    const started = Date.now();
    await ecr.send(new GetAuthorizationTokenCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('rejects unsigned requests with 403 UnrecognizedClientException', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': GET_AUTHORIZATION_TOKEN_TARGET,
      },
      body: '{}',
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
    expect(await res.json()).toMatchObject({ __type: 'UnrecognizedClientException' });
  });

  it('is reached through AWS_ENDPOINT_URL_ECR', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_ECR;
    process.env.AWS_ENDPOINT_URL_ECR = server.url;
    const viaEnv = new ECRClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    try {
      await viaEnv.send(new GetAuthorizationTokenCommand({}));
      expect(server.calls).toBe(1);
    } finally {
      viaEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_ECR;
      else process.env.AWS_ENDPOINT_URL_ECR = saved;
    }
  });

  it('counts a hung request as pending until the client goes away', async () => {
    server.hang(60_000);
    const controller = new AbortController();
    const call = ecr.send(new GetAuthorizationTokenCommand({}), { abortSignal: controller.signal });
    call.catch(() => undefined);
    while (server.calls === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.pending).toBe(1);

    controller.abort();
    await expect(call).rejects.toThrow();
    while (server.pending > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.pending).toBe(0);
  });
});
