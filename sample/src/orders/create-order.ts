import { BodyReader, ITEM_ID } from '../common/validation.js';

/** The body of a new order: `{ "itemId": "jazz-night", "quantity": 2 }`. */
export interface CreateOrder {
  readonly itemId: string;
  readonly quantity: number;
}

/** Most units one order may take. */
export const MAX_QUANTITY = 10;

/** Reads a new order's body; a 400 names every problem. */
export function readCreateOrder(body: unknown): CreateOrder {
  const input = new BodyReader(body);
  const order = {
    itemId: input.string(
      'itemId',
      ITEM_ID,
      'an item id (lower-case letters, digits and dashes)',
    ),
    quantity: input.integer('quantity', 1, MAX_QUANTITY, 1),
  };
  input.done();
  return order;
}
