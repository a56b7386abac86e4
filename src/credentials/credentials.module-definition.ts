import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { CredentialsModuleExtras, CredentialsModuleOptions } from './credentials.options.js';

export const {
  ConfigurableModuleClass: ConfigurableCredentialsModule,
  MODULE_OPTIONS_TOKEN: CREDENTIALS_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<CredentialsModuleOptions>({ moduleName: 'Credentials' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createCredentialsOptions')
  // Every extra needs a default here: only keys listed here are kept out of the options value.
  .setExtras<CredentialsModuleExtras>(
    { isGlobal: false, controller: false, name: undefined },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal ?? false,
    }),
  )
  .build();

export type CredentialsModuleSyncOptions = typeof OPTIONS_TYPE;
export type CredentialsModuleAsyncOptions = typeof ASYNC_OPTIONS_TYPE;
