/**
 * `@InjectDistributedLockOptions()` injects the options given to the module
 * (README, The Nest module), in the modules that see it: the importing
 * module, and every module when it is global. The module must export the
 * token for that.
 */
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  DistributedLockModule,
  InjectDistributedLockOptions,
  MemoryLockStore,
  type DistributedLockModuleOptions,
} from '../../lib/index.js';

@Injectable()
class ReadsOptions {
  constructor(
    @InjectDistributedLockOptions()
    readonly options: DistributedLockModuleOptions,
  ) {}
}

test('a provider of the importing module gets the options', async () => {
  const store = new MemoryLockStore();
  const moduleRef = await Test.createTestingModule({
    imports: [DistributedLockModule.forRoot({ store, prefix: 'p:' })],
    providers: [ReadsOptions],
  }).compile();
  try {
    expect(moduleRef.get(ReadsOptions).options).toMatchObject({
      store,
      prefix: 'p:',
    });
  } finally {
    await moduleRef.close();
  }
});

test('with isGlobal, a provider of a feature module gets them, also from forRootAsync', async () => {
  @Module({ providers: [ReadsOptions] })
  class FeatureModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [
      DistributedLockModule.forRootAsync({
        isGlobal: true,
        useFactory: () => ({ store: new MemoryLockStore(), prefix: 'q:' }),
      }),
      FeatureModule,
    ],
  }).compile();
  try {
    expect(moduleRef.get(ReadsOptions).options.prefix).toBe('q:');
  } finally {
    await moduleRef.close();
  }
});
