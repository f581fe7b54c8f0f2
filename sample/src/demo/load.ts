/** Concurrent purchases against the sample's HTTP API, and what came back. */

/** How the answers to one load split up. */
export interface LoadResult {
  readonly requests: number;
  /** 201: a reservation was made. */
  readonly successes: number;
  /** 409 "Sold out": the stock check refused. */
  readonly soldOut: number;
  /** 409 with Retry-After: the item's lock was still held when the wait ran out. */
  readonly busy: number;
  /** Any other answer, or no answer. */
  readonly errors: number;
  /** Successes per instance (by base URL). */
  readonly perInstance: readonly number[];
  readonly elapsedMs: number;
  /** A sample of the unexpected answers. */
  readonly errorSamples: readonly string[];
}

export interface LoadOptions {
  /** Base URLs of the app instances; requests go round robin. */
  readonly instances: readonly string[];
  /** `/orders` (locked) or `/unlocked/orders`. */
  readonly path: string;
  readonly itemId: string;
  readonly requests: number;
  /** Called after every answer with the number of answers so far. */
  readonly onProgress?: (done: number) => void;
}

/** Fires every request at once and waits for all the answers. */
export async function firePurchases(options: LoadOptions): Promise<LoadResult> {
  const { instances, path, itemId, requests } = options;
  const counts = { successes: 0, soldOut: 0, busy: 0, errors: 0 };
  const perInstance = instances.map(() => 0);
  const errorSamples: string[] = [];
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: requests }, async (_, index) => {
      const instance = index % instances.length;
      const outcome = await purchase(instances[instance], path, itemId);
      counts[outcome.kind]++;
      if (outcome.kind === 'successes') perInstance[instance]++;
      if (outcome.kind === 'errors' && errorSamples.length < 5)
        errorSamples.push(outcome.detail);
      options.onProgress?.(++done);
    }),
  );
  return {
    requests,
    ...counts,
    perInstance,
    elapsedMs: performance.now() - started,
    errorSamples,
  };
}

type Outcome = {
  kind: 'successes' | 'soldOut' | 'busy' | 'errors';
  detail: string;
};

async function purchase(
  baseUrl: string,
  path: string,
  itemId: string,
): Promise<Outcome> {
  try {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ itemId, quantity: 1 }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await response.json()) as { message?: unknown };
    const detail = `${response.status} ${JSON.stringify(body)}`;
    if (response.status === 201) return { kind: 'successes', detail };
    if (response.status === 409 && response.headers.has('retry-after'))
      return { kind: 'busy', detail };
    if (response.status === 409 && String(body.message).startsWith('Sold out'))
      return { kind: 'soldOut', detail };
    return { kind: 'errors', detail };
  } catch (error) {
    return { kind: 'errors', detail: String(error) };
  }
}

/** What the database says about an item after a load (`GET /items/:id`). */
export interface ItemFigures {
  readonly stock: number;
  readonly available: number;
  readonly sold: number;
  readonly oversold: number;
}

export async function itemFigures(
  baseUrl: string,
  itemId: string,
): Promise<ItemFigures> {
  const response = await fetch(`${baseUrl}/items/${itemId}`);
  if (!response.ok)
    throw new Error(`GET /items/${itemId} answered ${response.status}`);
  return (await response.json()) as ItemFigures;
}

/** Puts a new item on sale (`POST /items`). */
export async function createItem(
  baseUrl: string,
  id: string,
  stock: number,
): Promise<void> {
  const response = await fetch(`${baseUrl}/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, name: `Demo ${id}`, stock, priceCents: 1000 }),
  });
  if (response.status !== 201)
    throw new Error(
      `POST /items answered ${response.status}: ${await response.text()}`,
    );
}
