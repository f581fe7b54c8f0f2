import {
  HttpException,
  HttpStatus,
  Injectable,
  Optional,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { LockBackendUnavailableError } from './core/errors/lock-backend-unavailable.error.js';
import { LockManagerClosedError } from './core/errors/lock-manager-closed.error.js';
import { LockNotAcquiredError } from './core/errors/lock-not-acquired.error.js';
import { InvalidLockKeyArgumentError } from './errors/invalid-lock-key-argument.error.js';
import {
  badKeyValueMessage,
  conflictMessage,
  SHUTTING_DOWN_MESSAGE,
  UNAVAILABLE_MESSAGE,
} from './distributed-lock.messages.js';

/** How a lock error is answered, whatever the transport. */
export interface LockErrorResponse {
  statusCode: number;
  error: string;
  message: string;
  /** Seconds before a retry can succeed (contention only). */
  retryAfter?: number;
}

/**
 * Maps lock errors to the transport at the edge, so the engine stays free of
 * HTTP:
 * - contention ({@link LockNotAcquiredError}, {@link LockWaitTimeoutError}):
 *   HTTP 409 with `Retry-After` in whole seconds (rounded up, at least 1);
 * - {@link LockBackendUnavailableError} (Redis unreachable or too slow) and
 *   {@link LockManagerClosedError} (this instance is shutting down): 503;
 * - {@link InvalidLockKeyArgumentError} (a key value from the request is
 *   missing or not a string/number): 400.
 * Any other error, lost locks included, passes through unchanged (a lost lock
 * is a server-side failure: Nest answers 500 and logs it).
 *
 * For RPC and WebSocket handlers it throws the same payload in an
 * `RpcException` or a `WsException`, which Nest's exception filters send to
 * the client as `{ status: 'error', ...payload }` (any other error becomes
 * "Internal server error" there). Those classes come from the application's
 * own @nestjs/microservices or @nestjs/websockets, loaded on the first such
 * error: this library does not depend on them. Override {@link toRpcError}
 * or {@link toWsError} to throw something else, or {@link toResponse} to
 * change the mapping.
 *
 * NOTE: an interceptor rather than an exception filter. Errors from a
 * decorated provider method called by a handler reach the handler's
 * interceptors just as the handler's own errors do, the module can register it
 * globally (`APP_INTERCEPTOR`, switched by the `mapErrors` option) without
 * taking the application's one catch-all filter slot, and the application's
 * own exception filters still see the mapped `HttpException`. Errors thrown
 * in guards or pipes never reach an interceptor, but no lock is taken there.
 */
@Injectable()
export class DistributedLockInterceptor implements NestInterceptor {
  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        const mapped = this.map(error, context);
        return mapped instanceof Promise
          ? from(mapped).pipe(mergeMap((e: unknown) => throwError(() => e)))
          : throwError(() => mapped);
      }),
    );
  }

  /**
   * The mapped error for `error` (or a Promise of it), or `error` itself when
   * it is no lock error this maps.
   */
  protected map(error: unknown, context: ExecutionContext): unknown {
    const response = this.toResponse(error);
    if (!response) return error;
    switch (context.getType<string>()) {
      case 'http':
        return this.toHttpException(response, error, context);
      case 'rpc':
        return this.toRpcError(response, error);
      case 'ws':
        return this.toWsError(response, error);
      default:
        return error;
    }
  }

  /** The transport-neutral answer to a lock error, or `undefined` to let it pass. */
  protected toResponse(error: unknown): LockErrorResponse | undefined {
    if (error instanceof LockNotAcquiredError) {
      const retryAfter = Math.max(1, Math.ceil(error.retryAfterMs / 1000));
      return {
        statusCode: HttpStatus.CONFLICT,
        error: 'Conflict',
        message: conflictMessage(retryAfter),
        retryAfter,
      };
    }
    if (error instanceof LockBackendUnavailableError) {
      return {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'Service Unavailable',
        message: UNAVAILABLE_MESSAGE,
      };
    }
    if (error instanceof LockManagerClosedError) {
      return {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        error: 'Service Unavailable',
        message: SHUTTING_DOWN_MESSAGE,
      };
    }
    if (error instanceof InvalidLockKeyArgumentError) {
      return {
        statusCode: HttpStatus.BAD_REQUEST,
        error: 'Bad Request',
        message: badKeyValueMessage(error.placeholder, error.value),
      };
    }
    return undefined;
  }

  /** Sets `Retry-After` on the response and returns the `HttpException` to throw. */
  protected toHttpException(
    response: LockErrorResponse,
    cause: unknown,
    context: ExecutionContext,
  ): HttpException {
    if (response.retryAfter !== undefined)
      this.setHeader(context, 'Retry-After', String(response.retryAfter));
    return new HttpException(response, response.statusCode, { cause });
  }

  /**
   * What an RPC handler throws (or a Promise of it): an `RpcException` with
   * the payload, or the payload itself if @nestjs/microservices cannot be
   * loaded.
   */
  protected toRpcError(
    response: LockErrorResponse,
    _cause: unknown,
  ): unknown | Promise<unknown> {
    return wrapIn(RPC_EXCEPTION, response);
  }

  /**
   * What a WebSocket handler throws (or a Promise of it): a `WsException`
   * with the payload, or the payload itself if @nestjs/websockets cannot be
   * loaded.
   */
  protected toWsError(
    response: LockErrorResponse,
    _cause: unknown,
  ): unknown | Promise<unknown> {
    return wrapIn(WS_EXCEPTION, response);
  }

  private setHeader(
    context: ExecutionContext,
    name: string,
    value: string,
  ): void {
    const response: unknown = context.switchToHttp().getResponse();
    // NOTE: a stream (`@Sse`) may have sent its headers already: the error
    // then goes out as an event, and setting a header would throw instead.
    if (headersSent(response)) return;
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) return adapter.setHeader(response, name, value);
    const target = response as {
      setHeader?: (n: string, v: string) => void;
      header?: (n: string, v: string) => void;
    };
    if (typeof target.setHeader === 'function') target.setHeader(name, value);
    else target.header?.(name, value);
  }
}

/** Whether an Express or Fastify response has sent its headers. */
function headersSent(response: unknown): boolean {
  const target = response as {
    headersSent?: boolean;
    sent?: boolean;
    raw?: { headersSent?: boolean };
  };
  return (
    target?.headersSent === true ||
    target?.sent === true ||
    target?.raw?.headersSent === true
  );
}

type ExceptionClass = new (error: object) => Error;

/** An exception class of an optional Nest package, loaded once, on first use. */
interface OptionalException {
  readonly specifier: string;
  readonly name: string;
  loaded?: Promise<ExceptionClass | undefined>;
}

const RPC_EXCEPTION: OptionalException = {
  specifier: '@nestjs/microservices',
  name: 'RpcException',
};
const WS_EXCEPTION: OptionalException = {
  specifier: '@nestjs/websockets',
  name: 'WsException',
};

/**
 * The payload in the package's exception class, or as a plain object when the
 * application does not have the package. NOTE: imported from here, the
 * package resolves to the application's own copy (a peer), so that Nest's
 * filters recognise the class.
 */
async function wrapIn(
  exception: OptionalException,
  response: LockErrorResponse,
): Promise<unknown> {
  exception.loaded ??= import(exception.specifier).then(
    (module: Record<string, unknown>) =>
      typeof module[exception.name] === 'function'
        ? (module[exception.name] as ExceptionClass)
        : undefined,
    () => undefined,
  );
  const payload = { status: 'error', ...response };
  const Exception = await exception.loaded;
  return Exception ? new Exception(payload) : payload;
}
