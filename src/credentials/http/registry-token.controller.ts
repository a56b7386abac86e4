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
  /**
   * When the token expires (ISO 8601), or `null` when unknown: `getRegistryToken()` returns only
   * the token, so no backend reports an expiry through it yet.
   */
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
    const token = await this.credentials.getRegistryToken();
    return { registry: this.registry, token, expiresAt: null };
  }
}
