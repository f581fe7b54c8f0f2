import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from './app.config.js';

/** Injection token of the {@link AppConfig}. */
export const APP_CONFIG = Symbol('order-sample:config');

/** Makes the {@link AppConfig} injectable everywhere. */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
