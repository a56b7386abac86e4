import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { CredentialsHealthIndicator } from './credentials/health/index.js';

/**
 * `GET /health` of the example app: 200 while the backend's storage and registry answer, 503
 * with the reason of each side that does not. Open, like the probes of an orchestrator expect.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly credentials: CredentialsHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.credentials.isHealthy('credentials')]);
  }
}
