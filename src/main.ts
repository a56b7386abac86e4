import 'reflect-metadata';
import { startExampleApp } from './app.bootstrap.js';

startExampleApp().then(
  ({ banner }) => process.stdout.write(`${banner}\n`),
  (err: unknown) => {
    // Configuration errors name the variable and never hold a secret: the message is enough.
    process.stderr.write(`Startup failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
