import {
  BadRequestException,
  Injectable,
  type PipeTransform,
} from '@nestjs/common';

/** Item ids are slugs: lower-case letters, digits and dashes. */
export const ITEM_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Reads a JSON body field by field and collects every problem, so that one
 * 400 answer names them all. (The sample does without class-validator.)
 */
export class BodyReader {
  private readonly problems: string[] = [];
  private readonly body: Record<string, unknown>;

  constructor(body: unknown) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.problems.push('the body must be a JSON object');
      this.body = {};
    } else {
      this.body = body as Record<string, unknown>;
    }
  }

  string(name: string, pattern: RegExp, hint: string): string {
    const value = this.body[name];
    if (typeof value === 'string' && pattern.test(value)) return value;
    this.problems.push(`${name} must be ${hint} (got ${show(value)})`);
    return '';
  }

  integer(name: string, min: number, max: number, fallback?: number): number {
    const value = this.body[name];
    if (value === undefined && fallback !== undefined) return fallback;
    if (Number.isInteger(value) && Number(value) >= min && Number(value) <= max)
      return Number(value);
    this.problems.push(
      `${name} must be a whole number from ${min} to ${max} (got ${show(value)})`,
    );
    return 0;
  }

  /** Throws a 400 naming every problem found so far. */
  done(): void {
    if (this.problems.length)
      throw new BadRequestException(
        `Invalid request: ${this.problems.join('; ')}.`,
      );
  }
}

/** Checks an item id from the path; 400 with the rule when it is malformed. */
@Injectable()
export class ParseItemIdPipe implements PipeTransform<unknown, string> {
  transform(value: unknown): string {
    if (typeof value === 'string' && ITEM_ID.test(value)) return value;
    throw new BadRequestException(
      `Invalid item id ${show(value)}: use 1 to 64 lower-case letters, digits and dashes.`,
    );
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
