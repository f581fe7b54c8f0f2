import { Module } from '@nestjs/common';
import { InventoryModule } from '../inventory/inventory.module.js';
import { OrdersController } from './orders.controller.js';
import { OrdersRepository } from './orders.repository.js';
import { OrdersService } from './orders.service.js';
import { PaymentGateway } from './payment-gateway.js';
import { ReservationExpiryJob } from './reservation-expiry.job.js';
import { UnlockedOrdersController } from './unlocked-orders.controller.js';

@Module({
  imports: [InventoryModule],
  controllers: [OrdersController, UnlockedOrdersController],
  providers: [
    OrdersService,
    OrdersRepository,
    PaymentGateway,
    ReservationExpiryJob,
  ],
})
export class OrdersModule {}
