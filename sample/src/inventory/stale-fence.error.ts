import { ConflictException } from '@nestjs/common';

/**
 * A write carried a fencing token older than one the row has already seen:
 * its lock holder lost the lock (it was paused past its lease) and another
 * holder has written since. The write is refused, and its transaction rolled
 * back.
 */
export class StaleFenceError extends ConflictException {
  constructor(
    readonly itemId: string,
    readonly fence: number,
    readonly lastFence: number,
  ) {
    super(
      `Write to item "${itemId}" refused: its lock (fence ${fence}) was lost, and a newer holder (fence ${lastFence}) has written since. Retry the request.`,
    );
    this.name = 'StaleFenceError';
  }
}
