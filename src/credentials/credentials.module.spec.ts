import 'reflect-metadata';
import { inspect } from 'node:util';
import { jest } from '@jest/globals';
import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import type { Readable } from 'node:stream';
import {
  AwsCredentials,
  Credentials,
  CREDENTIALS_PROVIDER,
  CredentialsConfigError,
  CredentialsModule,
  getCredentialsToken,
  InjectCredentials,
  LocalCredentials,
  type ProjectObject,
  StorageUnavailableError,
} from './index.js';
import { RedactingLogger } from './util/redact.js';
import { configFromEnv } from '../../test/support/backends.js';

const LOCAL_ENV = {
  CREDENTIALS: 'local',
  BUCKET_NAME_PROJECTS: 'projects',
  REGISTRY_HOST: '127.0.0.1:5000',
  MINIO_ENDPOINT: 'http://127.0.0.1:9000',
  MINIO_ACCESS_KEY: 'local-access-key',
  MINIO_SECRET_KEY: 'very-secret-minio-key',
};

const AWS_ENV = {
  CREDENTIALS: 'aws',
  BUCKET_NAME_PROJECTS: 'projects',
  REGISTRY_HOST: '123456789012.dkr.ecr.us-east-2.amazonaws.com',
  AWS_REGION: 'us-east-2',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY',
  AWS_SECRET_ACCESS_KEY: 'very-secret-aws-key',
};

@Injectable()
class GcpCredentials extends Credentials {
  constructor(readonly config: ConfigService) {
    super();
    this.credentials.GCP_KEY = config.get<string>('GCP_KEY') ?? null;
  }
  async getRegistryToken(): Promise<string | null> {
    return 'gcp-token';
  }
  async uploadProject(projectName: string): Promise<ProjectObject> {
    return { bucket: 'gcp', key: projectName, size: 0, sha256: '' };
  }
  async downloadProject(): Promise<Readable> {
    throw new Error('not used');
  }
}

@Injectable()
class Consumer {
  constructor(@InjectCredentials() readonly credentials: Credentials) {}
}

/** Injection by class, with no decorator, as `@nestjs/cache-manager` users take `Cache`. */
@Injectable()
class ConsumerByClass {
  constructor(readonly credentials: Credentials) {}
}

async function resolveWith(imports: unknown[], providers: unknown[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    providers: providers as never[],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

async function configErrorOf(promise: Promise<unknown>): Promise<CredentialsConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CredentialsConfigError);
  return err as CredentialsConfigError;
}

describe('CredentialsModule', () => {
  it('binds CREDENTIALS_PROVIDER to the backend named by CREDENTIALS', async () => {
    const ref = await resolveWith([configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(LocalCredentials);
    await ref.close();
  });

  it('builds the aws backend without contacting any server', async () => {
    const ref = await resolveWith([configFromEnv(AWS_ENV), CredentialsModule.forRoot()]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('lets the backend option override CREDENTIALS', async () => {
    const env = { ...LOCAL_ENV, ...AWS_ENV, CREDENTIALS: 'local' };
    const ref = await resolveWith([
      configFromEnv(env),
      CredentialsModule.forRoot({ backend: 'aws' }),
    ]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('builds a custom backend through DI, with ConfigService injected', async () => {
    const ref = await resolveWith([
      configFromEnv({ CREDENTIALS: 'gcp', GCP_KEY: 'gcp-secret' }),
      CredentialsModule.forRoot({ backends: { gcp: GcpCredentials } }),
    ]);
    const backend = ref.get<GcpCredentials>(CREDENTIALS_PROVIDER);
    expect(backend).toBeInstanceOf(GcpCredentials);
    expect(backend.config).toBeInstanceOf(ConfigService);
    expect(await backend.getCredentials()).toEqual({ GCP_KEY: 'gcp-secret' });
    await ref.close();
  });

  it('injects the backend with @InjectCredentials()', async () => {
    const ref = await resolveWith(
      [configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()],
      [Consumer],
    );
    expect(ref.get(Consumer).credentials).toBe(ref.get(CREDENTIALS_PROVIDER));
    await ref.close();
  });

  it('injects the same backend by its class, Credentials, with no decorator', async () => {
    const ref = await resolveWith(
      [configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()],
      [ConsumerByClass],
    );
    expect(ref.get(ConsumerByClass).credentials).toBeInstanceOf(LocalCredentials);
    expect(ref.get(ConsumerByClass).credentials).toBe(ref.get(CREDENTIALS_PROVIDER));
    await ref.close();
  });

  it('gives injection by class the double that overrideProvider(CREDENTIALS_PROVIDER) sets', async () => {
    const double = new GcpCredentials(new ConfigService({}));
    const ref = await Test.createTestingModule({
      imports: [configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()],
      providers: [ConsumerByClass],
    })
      .overrideProvider(CREDENTIALS_PROVIDER)
      .useValue(double)
      .compile();
    expect(ref.get(ConsumerByClass).credentials).toBe(double);
    await ref.close();
  });

  it('refuses an unknown backend and lists every valid name', async () => {
    const err = await configErrorOf(
      resolveWith([
        configFromEnv({ ...LOCAL_ENV, CREDENTIALS: 'azure' }),
        CredentialsModule.forRoot({ backends: { gcp: GcpCredentials } }),
      ]),
    );
    expect(err.message).toContain('CREDENTIALS is "azure"');
    expect(err.message).toContain('aws, gcp, local');
  });

  it('refuses a missing CREDENTIALS, naming the variable', async () => {
    const err = await configErrorOf(resolveWith([configFromEnv({}), CredentialsModule.forRoot()]));
    expect(err.message).toMatch(/CREDENTIALS is not set; valid backends: aws, local/);
  });

  it('reports every missing variable of the chosen backend at once', async () => {
    const err = await configErrorOf(
      resolveWith([configFromEnv({ CREDENTIALS: 'local' }), CredentialsModule.forRoot()]),
    );
    for (const name of [
      'BUCKET_NAME_PROJECTS',
      'REGISTRY_HOST',
      'MINIO_ENDPOINT',
      'MINIO_ACCESS_KEY',
      'MINIO_SECRET_KEY',
    ]) {
      expect(err.problems.some((problem) => problem.startsWith(name))).toBe(true);
    }
    expect(err.problems).toHaveLength(5);
  });

  it('names invalid values without echoing secrets', async () => {
    const err = await configErrorOf(
      resolveWith([
        configFromEnv({
          ...AWS_ENV,
          AWS_SECRET_ACCESS_KEY: '',
          AWS_ENDPOINT_URL_S3: 'not a url',
          BUCKET_NAME_PROJECTS: 'Bad_Bucket',
          AWS_REGION: '',
        }),
        CredentialsModule.forRoot(),
      ]),
    );
    expect(err.message).toContain(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together',
    );
    expect(err.message).toContain('AWS_ENDPOINT_URL_S3 (environment) must be an http(s) URL');
    expect(err.message).toContain('BUCKET_NAME_PROJECTS (environment) must be a valid bucket name');
    expect(err.message).toContain('AWS_REGION (or AWS_DEFAULT_REGION) is required');
    expect(err.message).not.toContain(AWS_ENV.AWS_ACCESS_KEY_ID);
  });

  it('refuses storage calls once the module is destroyed, without building a new client', async () => {
    const moduleRef = await resolveWith([configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()]);
    const credentials = moduleRef.get<Credentials>(CREDENTIALS_PROVIDER);
    await moduleRef.close();
    const calls = [
      credentials.uploadProject('late.zip', Buffer.from('PK\x05\x06')),
      credentials.downloadProject('projects', 'late.zip'),
      credentials.checkStorage(),
    ];
    for (const call of calls) {
      await expect(call).rejects.toThrow(StorageUnavailableError);
      await expect(call).rejects.toThrow('shut down');
    }
  });

  it('refuses invalid transfer options', async () => {
    const err = await configErrorOf(
      resolveWith([configFromEnv(LOCAL_ENV), CredentialsModule.forRoot({ partSize: 1024 })]),
    );
    expect(err.message).toContain('option partSize');
  });

  describe('forRootAsync', () => {
    @Injectable()
    class OptionsFactory {
      createCredentialsOptions() {
        return { backend: 'gcp', backends: { gcp: GcpCredentials } };
      }
    }

    @Module({ providers: [OptionsFactory], exports: [OptionsFactory] })
    class OptionsModule {}

    it('takes options from useFactory with inject', async () => {
      const ref = await resolveWith([
        configFromEnv({ ...LOCAL_ENV, WHICH: 'gcp' }),
        CredentialsModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            backend: config.get<string>('WHICH'),
            backends: { gcp: GcpCredentials },
          }),
        }),
      ]);
      expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(GcpCredentials);
      await ref.close();
    });

    it('takes options from useClass', async () => {
      const ref = await resolveWith([
        configFromEnv({}),
        CredentialsModule.forRootAsync({ useClass: OptionsFactory }),
      ]);
      expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(GcpCredentials);
      await ref.close();
    });

    it('takes options from useExisting', async () => {
      const ref = await resolveWith([
        configFromEnv({}),
        CredentialsModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory }),
      ]);
      expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(GcpCredentials);
      await ref.close();
    });

    it('fails fast when the factory names an unknown backend', async () => {
      const err = await configErrorOf(
        resolveWith([
          configFromEnv({}),
          CredentialsModule.forRootAsync({ useFactory: () => ({ backend: 'nope' }) }),
        ]),
      );
      expect(err.message).toContain('option backend is "nope"');
    });
  });

  describe('isGlobal', () => {
    @Module({ providers: [Consumer, ConsumerByClass], exports: [Consumer, ConsumerByClass] })
    class FeatureModule {}

    it('makes the provider injectable in modules that do not import it', async () => {
      const ref = await resolveWith([
        configFromEnv(LOCAL_ENV),
        CredentialsModule.forRoot({ isGlobal: true }),
        FeatureModule,
      ]);
      expect(ref.get(Consumer).credentials).toBeInstanceOf(LocalCredentials);
      expect(ref.get(ConsumerByClass).credentials).toBe(ref.get(Consumer).credentials);
      await ref.close();
    });

    it('keeps the provider private to importers without it', async () => {
      const attempt = resolveWith([
        configFromEnv(LOCAL_ENV),
        CredentialsModule.forRoot(),
        FeatureModule,
      ]);
      await expect(attempt).rejects.toThrow(/can't resolve dependencies of the Consumer/i);
    });
  });
});

describe('named instances', () => {
  @Injectable()
  class Mover {
    constructor(
      readonly byClass: Credentials,
      @InjectCredentials() readonly byDefault: Credentials,
      @InjectCredentials('archive') readonly archive: Credentials,
    ) {}
  }

  const BOTH_ENV = { ...LOCAL_ENV, ...AWS_ENV, CREDENTIALS: 'local' };

  it('registers a named instance beside the default one, each under its own token', async () => {
    const ref = await resolveWith(
      [
        configFromEnv(BOTH_ENV),
        CredentialsModule.forRoot(),
        CredentialsModule.forRoot({ name: 'archive', backend: 'aws' }),
      ],
      [Mover],
    );
    expect(getCredentialsToken()).toBe(CREDENTIALS_PROVIDER);
    expect(getCredentialsToken('archive')).not.toBe(CREDENTIALS_PROVIDER);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(LocalCredentials);
    expect(ref.get(getCredentialsToken('archive'))).toBeInstanceOf(AwsCredentials);
    const mover = ref.get(Mover);
    expect(mover.byDefault).toBe(ref.get(CREDENTIALS_PROVIDER));
    expect(mover.byClass).toBe(mover.byDefault);
    expect(mover.archive).toBe(ref.get(getCredentialsToken('archive')));
    await ref.close();
  });

  it('keeps the Credentials class for the default instance, whatever the order', async () => {
    const ref = await resolveWith(
      [
        configFromEnv(BOTH_ENV),
        CredentialsModule.forRoot({ name: 'archive', backend: 'aws', isGlobal: true }),
        CredentialsModule.forRoot({ isGlobal: true }),
      ],
      [Mover],
    );
    expect(ref.get(Mover).byClass).toBeInstanceOf(LocalCredentials);
    expect(ref.get(Mover).archive).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('names an instance from forRootAsync too', async () => {
    const ref = await resolveWith([
      configFromEnv(BOTH_ENV),
      CredentialsModule.forRootAsync({ name: 'archive', useFactory: () => ({ backend: 'aws' }) }),
    ]);
    expect(ref.get(getCredentialsToken('archive'))).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('refuses a name that is not a non-empty word, and the controller on a named instance', () => {
    expect(() => CredentialsModule.forRoot({ name: ' ' })).toThrow(CredentialsConfigError);
    expect(() => CredentialsModule.forRoot({ name: 'archive', controller: true })).toThrow(
      /controller.*default instance/,
    );
  });
});

describe('Credentials secrets', () => {
  it.each([
    ['local', LOCAL_ENV, LOCAL_ENV.MINIO_SECRET_KEY],
    ['aws', AWS_ENV, AWS_ENV.AWS_SECRET_ACCESS_KEY],
  ])('%s: JSON.stringify and util.inspect show no secret', async (_name, env, secret) => {
    const ref = await resolveWith([configFromEnv(env), CredentialsModule.forRoot()]);
    const backend = ref.get<Credentials>(CREDENTIALS_PROVIDER);
    expect(JSON.stringify(backend)).not.toContain(secret);
    expect(JSON.stringify({ nested: [backend] })).not.toContain(secret);
    expect(inspect(backend, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(JSON.stringify({ ...backend })).not.toContain(secret);
    await ref.close();
  });

  it('getCredentials returns a frozen copy, never the live record', async () => {
    const ref = await resolveWith([configFromEnv(LOCAL_ENV), CredentialsModule.forRoot()]);
    const backend = ref.get<Credentials>(CREDENTIALS_PROVIDER);
    const first = await backend.getCredentials();
    expect(first.MINIO_SECRET_KEY).toBe(LOCAL_ENV.MINIO_SECRET_KEY);
    expect(() => ((first as Record<string, string | null>).MINIO_SECRET_KEY = 'changed')).toThrow();
    const second = await backend.getCredentials();
    expect(second).not.toBe(first);
    expect(second.MINIO_SECRET_KEY).toBe(LOCAL_ENV.MINIO_SECRET_KEY);
    await ref.close();
  });

  it('gives a custom backend a writable credentials record from the base constructor', () => {
    const backend = new GcpCredentials({ get: () => 'k' } as unknown as ConfigService);
    expect(Object.keys(backend)).not.toContain('credentials');
  });
});

// Keep the decorator import used even where only types are needed.
void Inject;

describe('typed settings in forRoot and forRootAsync', () => {
  const AWS_SETTINGS = {
    bucket: 'code-projects',
    region: 'eu-west-3',
    registryHost: '123456789012.dkr.ecr.eu-west-3.amazonaws.com',
    accessKeyId: 'AKIACODEKEY',
    secretAccessKey: 'Code-Secret-Access-Key-5521',
    sessionToken: 'Code-Session-Token-7731',
    s3Endpoint: 'http://127.0.0.1:9000',
    ecrEndpoint: 'http://127.0.0.1:9001',
    s3ForcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  } as const;

  const LOCAL_SETTINGS = {
    bucket: 'code-projects',
    registryHost: '127.0.0.1:5000',
    minioEndpoint: 'http://127.0.0.1:9000',
    minioAccessKey: 'code-access-key',
    minioSecretKey: 'Code-Minio-Secret-9043',
    minioRegion: 'eu-west-3',
    registryUsername: 'builder',
    registryPassword: 'Code-Registry-Password-6610',
  } as const;

  it('builds aws from settings in forRoot with no environment at all', async () => {
    const ref = await resolveWith([
      configFromEnv({}),
      CredentialsModule.forRoot({ backend: 'aws', aws: AWS_SETTINGS }),
    ]);
    const backend = ref.get<AwsCredentials>(CREDENTIALS_PROVIDER);
    expect(backend).toBeInstanceOf(AwsCredentials);
    jest.spyOn(backend, 'getRegistryToken').mockResolvedValue('stubbed-token');
    expect(await backend.getCredentials()).toEqual({
      AWS_ACCESS_KEY_ID: 'AKIACODEKEY',
      AWS_SECRET_ACCESS_KEY: AWS_SETTINGS.secretAccessKey,
      AWS_SESSION_TOKEN: AWS_SETTINGS.sessionToken,
      AWS_REGION: 'eu-west-3',
      BUCKET_NAME_PROJECTS: 'code-projects',
      REGISTRY_HOST: AWS_SETTINGS.registryHost,
      REGISTRY_TOKEN: 'stubbed-token',
    });
    await ref.close();
  });

  it('builds local from settings in forRootAsync (a secrets manager factory), no environment', async () => {
    const secrets = { get: async () => LOCAL_SETTINGS.minioSecretKey };
    const ref = await resolveWith([
      configFromEnv({}),
      CredentialsModule.forRootAsync({
        useFactory: async () => ({
          backend: 'local',
          local: { ...LOCAL_SETTINGS, minioSecretKey: await secrets.get() },
        }),
      }),
    ]);
    const backend = ref.get<Credentials>(CREDENTIALS_PROVIDER);
    expect(backend).toBeInstanceOf(LocalCredentials);
    expect(await backend.getCredentials()).toEqual({
      MINIO_ENDPOINT: 'http://127.0.0.1:9000',
      MINIO_ACCESS_KEY: 'code-access-key',
      MINIO_SECRET_KEY: LOCAL_SETTINGS.minioSecretKey,
      MINIO_REGION: 'eu-west-3',
      BUCKET_NAME_PROJECTS: 'code-projects',
      REGISTRY_HOST: '127.0.0.1:5000',
      REGISTRY_USERNAME: 'builder',
      REGISTRY_PASSWORD: LOCAL_SETTINGS.registryPassword,
    });
    expect(await backend.getRegistryToken()).toBe(
      Buffer.from(`builder:${LOCAL_SETTINGS.registryPassword}`).toString('base64'),
    );
    await ref.close();
  });

  it('lets a given setting win over its variable, and reads the rest from the environment', async () => {
    const ref = await resolveWith([
      configFromEnv(LOCAL_ENV),
      CredentialsModule.forRoot({ local: { bucket: 'given-bucket', minioRegion: 'eu-north-1' } }),
    ]);
    const record = await ref.get<Credentials>(CREDENTIALS_PROVIDER).getCredentials();
    expect(record).toMatchObject({
      BUCKET_NAME_PROJECTS: 'given-bucket',
      MINIO_REGION: 'eu-north-1',
      MINIO_ENDPOINT: LOCAL_ENV.MINIO_ENDPOINT,
      MINIO_SECRET_KEY: LOCAL_ENV.MINIO_SECRET_KEY,
    });
    await ref.close();
  });

  it('ignores the settings of a backend that is not chosen', async () => {
    const ref = await resolveWith([
      configFromEnv(LOCAL_ENV),
      CredentialsModule.forRoot({ aws: { bucket: 'Not_Checked_Here' } }),
    ]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(LocalCredentials);
    await ref.close();
  });

  it('reports every problem of code and environment at once, naming the source of each', async () => {
    const err = await configErrorOf(
      resolveWith([
        configFromEnv({ CREDENTIALS: 'aws', AWS_ENDPOINT_URL_S3: 'not a url' }),
        CredentialsModule.forRoot({
          aws: {
            bucket: 'Bad_Bucket',
            accessKeyId: 'AKIAHALFAPAIR',
            sessionToken: 'Given-Session-Token-4471',
          },
        }),
      ]),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('aws.bucket (forRoot) must be a valid bucket name'),
        expect.stringContaining('AWS_ENDPOINT_URL_S3 (environment) must be an http(s) URL'),
        expect.stringContaining(
          'REGISTRY_HOST is required by the "aws" backend (set it in the environment, or aws.registryHost in forRoot)',
        ),
        expect.stringContaining('only aws.accessKeyId (forRoot) is set'),
        expect.stringContaining('aws.region in forRoot'),
      ]),
    );
    expect(err.problems).toHaveLength(5);
    expect(err.message).not.toContain('AKIAHALFAPAIR');
    expect(err.message).not.toContain('Given-Session-Token-4471');
  });

  it('names a forRootAsync problem too, and refuses an unknown setting name', async () => {
    const err = await configErrorOf(
      resolveWith([
        configFromEnv(LOCAL_ENV),
        CredentialsModule.forRootAsync({
          useFactory: () => ({ local: { bucketName: 'projects', minioEndpoint: 'ftp://x' } }),
        }),
      ]),
    );
    expect(err.problems).toEqual([
      expect.stringContaining('local.bucketName (forRoot) is not a setting of the "local" backend'),
      expect.stringContaining('local.minioEndpoint (forRoot) must be an http(s) URL'),
    ]);
  });

  it.each([
    ['aws', { backend: 'aws', aws: AWS_SETTINGS }, AWS_SETTINGS.secretAccessKey],
    ['aws session', { backend: 'aws', aws: AWS_SETTINGS }, AWS_SETTINGS.sessionToken],
    ['local', { backend: 'local', local: LOCAL_SETTINGS }, LOCAL_SETTINGS.minioSecretKey],
    [
      'local registry',
      { backend: 'local', local: LOCAL_SETTINGS },
      LOCAL_SETTINGS.registryPassword,
    ],
  ] as const)(
    '%s: a secret given in code is in no log line, JSON or inspect of the instance',
    async (_label, options, secret) => {
      const ref = await resolveWith([configFromEnv({}), CredentialsModule.forRoot(options)]);
      const backend = ref.get<Credentials>(CREDENTIALS_PROVIDER);
      expect(JSON.stringify(backend)).not.toContain(secret);
      expect(JSON.stringify({ ...backend })).not.toContain(secret);
      expect(inspect(backend, { depth: 10, showHidden: true })).not.toContain(secret);
      const lines: string[] = [];
      jest.spyOn(Logger.prototype, 'warn').mockImplementation((message) => {
        lines.push(String(message));
      });
      new RedactingLogger('Credentials').warn(`request failed with key ${secret}`);
      expect(lines).toEqual(['request failed with key [redacted]']);
      jest.restoreAllMocks();
      await ref.close();
    },
  );

  it('gives two named instances of one backend their own buckets', async () => {
    const ref = await resolveWith([
      configFromEnv(LOCAL_ENV),
      CredentialsModule.forRoot({ local: { bucket: 'first-bucket' } }),
      CredentialsModule.forRoot({
        name: 'archive',
        backend: 'local',
        local: { bucket: 'second-bucket' },
      }),
    ]);
    const first = await ref.get<Credentials>(getCredentialsToken()).getCredentials();
    const second = await ref.get<Credentials>(getCredentialsToken('archive')).getCredentials();
    expect(first.BUCKET_NAME_PROJECTS).toBe('first-bucket');
    expect(second.BUCKET_NAME_PROJECTS).toBe('second-bucket');
    await ref.close();
  });
});
