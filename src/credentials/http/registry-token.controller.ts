import { Controller, Get, Header, Inject, UseFilters } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { registryHostOf } from '../config/env-schema.js';
import { CREDENTIALS_PROVIDER } from '../credentials.constants.js';
import type { Credentials } from '../credentials.js';
import { CredentialsErrorFilter } from './credentials-error.filter.js';

/** The answer of `GET /registry/token`. */
export interface RegistryTokenResponse {
  /** The registry host the token is for (`REGISTRY_HOST` without scheme), if configured. */
  registry: string | null;
  /** The registry token (`null` for a registry without auth). */
  token: string | null;
  /** When the token expires (ISO 8601; ECR tokens live 12 hours), or `null` if it does not. */
  expiresAt: string | null;
}

/** Hands out the registry token, the one secret a build client needs. Mounted with the controller. */
@Controller('registry')
@UseFilters(CredentialsErrorFilter)
export class RegistryTokenController {
  private readonly registry: string | null;

  constructor(
    @Inject(CREDENTIALS_PROVIDER) private readonly credentials: Credentials,
    config: ConfigService,
  ) {
    const host = String(config.get<unknown>('REGISTRY_HOST') ?? '').trim();
    this.registry = host ? registryHostOf(host) : null;
  }

  @Get('token')
  // A token must not be kept by any cache between the client and us.
  @Header('Cache-Control', 'no-store')
  async token(): Promise<RegistryTokenResponse> {
    const auth = await this.credentials.getRegistryAuth();
    return {
      registry: this.registry,
      token: auth?.token ?? null,
      expiresAt: auth?.expiresAt?.toISOString() ?? null,
    };
  }
}
