import { Module, type DynamicModule } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { OrdersController } from './orders.controller.js';
import { OrdersRepository } from './orders.repository.js';
import { OrdersService } from './orders.service.js';
import { PaymentGateway } from './payment-gateway.js';
import { ReservationExpiryJob } from './reservation-expiry.job.js';
import { UnlockedOrdersController } from './unlocked-orders.controller.js';

@Module({
  imports: [InventoryModule],
  controllers: [OrdersController],
  providers: [
    OrdersService,
    OrdersRepository,
    PaymentGateway,
    ReservationExpiryJob,
  ],
})
export class OrdersModule {
  /**
   * The orders, with `POST /unlocked/orders` (the demonstration's naive
   * endpoint, which oversells under load) only when `unlockedEndpoint`.
   */
  static forRoot({
    unlockedEndpoint = false,
  }: {
    unlockedEndpoint?: boolean;
  }): DynamicModule {
    return {
      module: OrdersModule,
      controllers: unlockedEndpoint ? [UnlockedOrdersController] : [],
    };
  }
}
