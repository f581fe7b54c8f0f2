// Scenario 5, the server side: a Nest Express app with two routes that do
// the same thing, one bare and one under @DistributedLock('item:<id>'). The
// parent drives it with autocannon from its own process. With `first:
// 'locked'` the locked route is registered first (Express tries routes in
// order: the route measured comes first in its app). With
// `withModule: false` it is the same app without DistributedLockModule and
// with the bare route only: what an application pays for importing the
// module at all (its global interceptor, and on Node 20 the promise
// tracking that AsyncLocalStorage turns on for the whole process once a
// lock is taken).
import 'reflect-metadata';
import { Controller, Get, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
// NOTE: bench/.dist is the copy `npm run bench` compiles (see lib/library.mjs).
import { DistributedLock, DistributedLockModule } from '../.dist/index.js';
import { scenarioProcess } from '../lib/child.mjs';

const { params, ready, stopped, finish } = scenarioProcess();

class BenchController {
  plain(id) {
    return id;
  }
  locked(id) {
    return id;
  }
}
// NOTE: plain JavaScript, so the decorators are applied by hand.
const withModule = params.withModule !== false;
const routes = [['plain', [Get('plain/:id')]]];
if (withModule)
  routes.push(['locked', [Get('locked/:id'), DistributedLock('item:<id>')]]);
if (params.first === 'locked') routes.reverse();
for (const [method, decorators] of routes) {
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

class BenchModule {}
Module({
  imports: withModule
    ? [DistributedLockModule.forRoot({ url: params.url })]
    : [],
  controllers: [BenchController],
})(BenchModule);

const app = await NestFactory.create(BenchModule, new ExpressAdapter(), {
  logger: false,
  abortOnError: false,
});
await app.listen(0, '127.0.0.1');
// The parent reads the app's CPU time before and after each load run.
process.on('message', (message) => {
  if (message.type === 'cpu')
    process.send({ type: 'cpu', usage: process.cpuUsage() });
});
ready({ port: app.getHttpServer().address().port });
await stopped;
finish({});
