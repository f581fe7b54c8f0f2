/**
 * Nest 11 users run CommonJS. This spec packs the library as it would be
 * published, installs the tarball next to Nest 11 in a scratch project (a
 * package install, not a symlink, so the library resolves the app's own Nest
 * through its peer dependencies), and runs a CommonJS app that require()s it
 * and takes locks on a real Redis. Needs the npm registry (or npm's cache).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRedis, type RedisServer } from '../support/redis-harness.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
let server: RedisServer;
let scratch: string;

beforeAll(async () => {
  server = await startRedis();
  scratch = await mkdtemp(join(tmpdir(), 'nest11-compat-'));
});

afterAll(async () => {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
});

it('is require()d by a CommonJS Nest 11 app, which takes locks through it', async () => {
  const { stdout: packed } = await run(
    'npm',
    ['pack', '--silent', '--pack-destination', scratch],
    { cwd: root },
  );
  const tarball = join(scratch, packed.trim().split('\n').at(-1)!);
  await writeFile(
    join(scratch, 'package.json'),
    JSON.stringify({ name: 'nest11-app', private: true, type: 'commonjs' }),
  );
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      '@nestjs/common@11',
      '@nestjs/core@11',
      'reflect-metadata@0.2',
      'rxjs@7',
      'ioredis@5',
    ],
    { cwd: scratch, timeout: 240_000 },
  );
  await copyFile(
    join(root, 'test/compat/nest11-app.cjs'),
    join(scratch, 'app.cjs'),
  );
  const { stdout, stderr } = await run(
    process.execPath,
    ['app.cjs', server.url],
    { cwd: scratch, timeout: 30_000 },
  );
  expect(stderr).not.toMatch(/ExperimentalWarning|require\(\) of ES modules? /);
  const report = JSON.parse(stdout) as {
    nestVersion: string;
    results: string[];
    overlaps: number;
    fence: number;
  };
  expect(report.nestVersion).toMatch(/^11\./);
  expect(report.results).toEqual(['a', 'a', 'a']);
  expect(report.overlaps).toBe(0);
  expect(report.fence).toBeGreaterThan(0);
}, 300_000);
