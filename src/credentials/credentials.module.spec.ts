import 'reflect-metadata';
import { inspect } from 'node:util';
import { Inject, Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
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

/** A configuration module that reads only `env` (never the process environment). */
function configFrom(env: Record<string, string>) {
  return ConfigModule.forRoot({
    isGlobal: true,
    ignoreEnvFile: true,
    ignoreEnvVars: true,
    skipProcessEnv: true,
    load: [() => env],
  });
}

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
    const ref = await resolveWith([configFrom(LOCAL_ENV), CredentialsModule.forRoot()]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(LocalCredentials);
    await ref.close();
  });

  it('builds the aws backend without contacting any server', async () => {
    const ref = await resolveWith([configFrom(AWS_ENV), CredentialsModule.forRoot()]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('lets the backend option override CREDENTIALS', async () => {
    const env = { ...LOCAL_ENV, ...AWS_ENV, CREDENTIALS: 'local' };
    const ref = await resolveWith([configFrom(env), CredentialsModule.forRoot({ backend: 'aws' })]);
    expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(AwsCredentials);
    await ref.close();
  });

  it('builds a custom backend through DI, with ConfigService injected', async () => {
    const ref = await resolveWith([
      configFrom({ CREDENTIALS: 'gcp', GCP_KEY: 'gcp-secret' }),
      CredentialsModule.forRoot({ backends: { gcp: GcpCredentials } }),
    ]);
    const backend = ref.get<GcpCredentials>(CREDENTIALS_PROVIDER);
    expect(backend).toBeInstanceOf(GcpCredentials);
    expect(backend.config).toBeInstanceOf(ConfigService);
    expect(await backend.getCredentials()).toEqual({ GCP_KEY: 'gcp-secret' });
    await ref.close();
  });

  it('injects the backend with @InjectCredentials()', async () => {
    const ref = await resolveWith([configFrom(LOCAL_ENV), CredentialsModule.forRoot()], [Consumer]);
    expect(ref.get(Consumer).credentials).toBe(ref.get(CREDENTIALS_PROVIDER));
    await ref.close();
  });

  it('injects the same backend by its class, Credentials, with no decorator', async () => {
    const ref = await resolveWith(
      [configFrom(LOCAL_ENV), CredentialsModule.forRoot()],
      [ConsumerByClass],
    );
    expect(ref.get(ConsumerByClass).credentials).toBeInstanceOf(LocalCredentials);
    expect(ref.get(ConsumerByClass).credentials).toBe(ref.get(CREDENTIALS_PROVIDER));
    await ref.close();
  });

  it('gives injection by class the double that overrideProvider(CREDENTIALS_PROVIDER) sets', async () => {
    const double = new GcpCredentials(new ConfigService({}));
    const ref = await Test.createTestingModule({
      imports: [configFrom(LOCAL_ENV), CredentialsModule.forRoot()],
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
        configFrom({ ...LOCAL_ENV, CREDENTIALS: 'azure' }),
        CredentialsModule.forRoot({ backends: { gcp: GcpCredentials } }),
      ]),
    );
    expect(err.message).toContain('CREDENTIALS is "azure"');
    expect(err.message).toContain('aws, gcp, local');
  });

  it('refuses a missing CREDENTIALS, naming the variable', async () => {
    const err = await configErrorOf(resolveWith([configFrom({}), CredentialsModule.forRoot()]));
    expect(err.message).toMatch(/CREDENTIALS is not set; valid backends: aws, local/);
  });

  it('reports every missing variable of the chosen backend at once', async () => {
    const err = await configErrorOf(
      resolveWith([configFrom({ CREDENTIALS: 'local' }), CredentialsModule.forRoot()]),
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
        configFrom({
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
    expect(err.message).toContain('AWS_ENDPOINT_URL_S3 must be an http(s) URL');
    expect(err.message).toContain('BUCKET_NAME_PROJECTS must be a valid bucket name');
    expect(err.message).toContain('AWS_REGION (or AWS_DEFAULT_REGION) is required');
    expect(err.message).not.toContain(AWS_ENV.AWS_ACCESS_KEY_ID);
  });

  it('refuses storage calls once the module is destroyed, without building a new client', async () => {
    const moduleRef = await resolveWith([configFrom(LOCAL_ENV), CredentialsModule.forRoot()]);
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
      resolveWith([configFrom(LOCAL_ENV), CredentialsModule.forRoot({ partSize: 1024 })]),
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
        configFrom({ ...LOCAL_ENV, WHICH: 'gcp' }),
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
        configFrom({}),
        CredentialsModule.forRootAsync({ useClass: OptionsFactory }),
      ]);
      expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(GcpCredentials);
      await ref.close();
    });

    it('takes options from useExisting', async () => {
      const ref = await resolveWith([
        configFrom({}),
        CredentialsModule.forRootAsync({ imports: [OptionsModule], useExisting: OptionsFactory }),
      ]);
      expect(ref.get(CREDENTIALS_PROVIDER)).toBeInstanceOf(GcpCredentials);
      await ref.close();
    });

    it('fails fast when the factory names an unknown backend', async () => {
      const err = await configErrorOf(
        resolveWith([
          configFrom({}),
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
        configFrom(LOCAL_ENV),
        CredentialsModule.forRoot({ isGlobal: true }),
        FeatureModule,
      ]);
      expect(ref.get(Consumer).credentials).toBeInstanceOf(LocalCredentials);
      expect(ref.get(ConsumerByClass).credentials).toBe(ref.get(Consumer).credentials);
      await ref.close();
    });

    it('keeps the provider private to importers without it', async () => {
      const attempt = resolveWith([
        configFrom(LOCAL_ENV),
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
        configFrom(BOTH_ENV),
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
        configFrom(BOTH_ENV),
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
      configFrom(BOTH_ENV),
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
    const ref = await resolveWith([configFrom(env), CredentialsModule.forRoot()]);
    const backend = ref.get<Credentials>(CREDENTIALS_PROVIDER);
    expect(JSON.stringify(backend)).not.toContain(secret);
    expect(JSON.stringify({ nested: [backend] })).not.toContain(secret);
    expect(inspect(backend, { depth: 10, showHidden: true })).not.toContain(secret);
    expect(JSON.stringify({ ...backend })).not.toContain(secret);
    await ref.close();
  });

  it('getCredentials returns a frozen copy, never the live record', async () => {
    const ref = await resolveWith([configFrom(LOCAL_ENV), CredentialsModule.forRoot()]);
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
