export {
  CredentialsHealthIndicator,
  type CredentialsHealthOptions,
  type CredentialsPartHealth,
} from './credentials.health.js';
