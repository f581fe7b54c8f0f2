import { Module, type DynamicModule } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { DistributedLockModule } from 'nestjs-distributed-lock';
import { APP_CONFIG, AppConfigModule } from './app-config.module.js';
import type { AppConfig } from './app.config.js';
import { DatabaseModule } from './database/database.module.js';
import { InventoryModule } from './inventory/inventory.module.js';
import { lockOptions } from './locks.config.js';
import { OrdersModule } from './orders/orders.module.js';

/** The ticket shop: items with limited stock, orders, and the expiry job. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        ScheduleModule.forRoot(),
        DistributedLockModule.forRootAsync({
          isGlobal: true,
          inject: [APP_CONFIG],
          useFactory: lockOptions,
        }),
        DatabaseModule,
        InventoryModule,
        OrdersModule.forRoot(config),
      ],
    };
  }
}
