import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { BodyReader, ITEM_ID, ParseItemIdPipe } from '../common/validation.js';
import type { Item, ItemReport } from './item.js';
import { ItemsRepository } from './items.repository.js';

@Controller('items')
export class ItemsController {
  constructor(private readonly items: ItemsRepository) {}

  /** Every item with its figures: stock, available, sold, oversold. */
  @Get()
  list(): Promise<ItemReport[]> {
    return this.items.reports();
  }

  @Get(':itemId')
  get(@Param('itemId', ParseItemIdPipe) itemId: string): Promise<ItemReport> {
    return this.items.report(itemId);
  }

  /** Puts a new item on sale: `{ "id": "summer-gig", "name": "...", "stock": 10, "priceCents": 2500 }`. */
  @Post()
  create(@Body() body: unknown): Promise<Item> {
    const input = new BodyReader(body);
    const item = {
      id: input.string(
        'id',
        ITEM_ID,
        '1 to 64 lower-case letters, digits and dashes',
      ),
      // NOTE: no control characters: PostgreSQL text cannot hold a NUL (a
      // 500 otherwise), and a name has no use for the others.
      name: input.string(
        'name',
        /^[^\s\p{Cc}][^\p{Cc}]{0,199}$/u,
        'a name of 1 to 200 characters, without control characters',
      ),
      stock: input.integer('stock', 0, 1_000_000),
      priceCents: input.integer('priceCents', 0, 100_000_000, 0),
    };
    input.done();
    return this.items.create(item);
  }
}
