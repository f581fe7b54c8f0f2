// A CommonJS Nest 11 application that require()s the packed library.
// Prints one JSON line with what it saw.
require('reflect-metadata');
const { Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const {
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
} = require('nestjs-distributed-lock');

class Jobs {
  constructor() {
    this.inside = 0;
    this.overlaps = 0;
  }
  async run(id) {
    if (++this.inside > 1) this.overlaps++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.inside--;
    return id;
  }
}
// NOTE: plain JavaScript, so the decorators are applied by hand.
Object.defineProperty(
  Jobs.prototype,
  'run',
  Reflect.decorate(
    [DistributedLock('job:<0>', { onContention: 'wait' })],
    Jobs.prototype,
    'run',
    Object.getOwnPropertyDescriptor(Jobs.prototype, 'run'),
  ),
);
Injectable()(Jobs);

class AppModule {}
Module({
  imports: [DistributedLockModule.forRoot({ url: process.argv[2] })],
  providers: [Jobs],
})(AppModule);

(async () => {
  const app = await NestFactory.createApplicationContext(AppModule, {
    logger: false,
  });
  const jobs = app.get(Jobs);
  const results = await Promise.all([
    jobs.run('a'),
    jobs.run('a'),
    jobs.run('a'),
  ]);
  const lock = await app.get(DistributedLockService).acquire('plain');
  await lock.release();
  await app.close();
  const nestVersion = require('@nestjs/core/package.json').version;
  process.stdout.write(
    JSON.stringify({
      nestVersion,
      results,
      overlaps: jobs.overlaps,
      fence: lock.fence,
    }) + '\n',
  );
})().catch((error) => {
  process.stderr.write(String(error && error.stack) + '\n');
  process.exit(1);
});
