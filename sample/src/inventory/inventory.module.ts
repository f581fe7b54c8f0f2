import { Module } from '@nestjs/common';
import { ItemsController } from './items.controller.js';
import { ItemsRepository } from './items.repository.js';

@Module({
  controllers: [ItemsController],
  providers: [ItemsRepository],
  exports: [ItemsRepository],
})
export class InventoryModule {}
