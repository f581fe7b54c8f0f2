// Decorator overhead: one Express route with @DistributedLock and the same
// route without it, distinct keys (no contention), real Redis.
//   npm run build && node bench/decorator.mjs
// Prints requests per second and p50/p99 latency of each, and their ratio.
import 'reflect-metadata';
import { Controller, Get, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Agent, request } from 'node:http';
import { DistributedLock, DistributedLockModule } from '../dist/index.js';
import { percentile, startRedisServer } from './redis-server.mjs';

const short = process.env.BENCH_SHORT === '1';
const REQUESTS = short ? 500 : 20_000;
const CONCURRENCY = 32;

class BenchController {
  plain(id) {
    return id;
  }
  locked(id) {
    return id;
  }
}
// NOTE: plain JavaScript, so the decorators are applied by hand.
for (const [method, decorators] of [
  ['plain', [Get('plain/:id')]],
  ['locked', [Get('locked/:id'), DistributedLock('item:<id>')]],
]) {
  Param('id')(BenchController.prototype, method, 0);
  const descriptor = Object.getOwnPropertyDescriptor(
    BenchController.prototype,
    method,
  );
  Object.defineProperty(
    BenchController.prototype,
    method,
    Reflect.decorate(decorators, BenchController.prototype, method, descriptor),
  );
}
Controller()(BenchController);

async function measure(port, path) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies = [];
  let next = 0;
  const get = (url) =>
    new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: url, agent }, (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200
            ? resolve()
            : reject(new Error(`${url}: ${response.statusCode}`)),
        );
      })
        .on('error', reject)
        .end();
    });
  const loop = async () => {
    while (next < REQUESTS) {
      const url = `/${path}/k${next++}`;
      const started = performance.now();
      await get(url);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    rps: REQUESTS / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

const server = await startRedisServer();
class BenchModule {}
Module({
  imports: [DistributedLockModule.forRoot({ url: server.url })],
  controllers: [BenchController],
})(BenchModule);
const app = await NestFactory.create(BenchModule, new ExpressAdapter(), {
  logger: false,
  abortOnError: false,
});
await app.listen(0, '127.0.0.1');
const { port } = app.getHttpServer().address();
try {
  await measure(port, 'plain'); // warm-up
  await measure(port, 'locked');
  const plain = await measure(port, 'plain');
  const locked = await measure(port, 'locked');
  const row = (name, r) =>
    `${name.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`;
  console.log(
    `Express, ${REQUESTS} requests, ${CONCURRENCY} concurrent, distinct keys`,
  );
  console.log(row('plain', plain));
  console.log(row('locked', locked));
  console.log(
    `locked/plain throughput: ${(locked.rps / plain.rps).toFixed(2)}`,
  );
} finally {
  await app.close();
  await server.stop();
}
