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
import { catchError, throwError, type Observable } from 'rxjs';
import { LockBackendUnavailableError } from './core/errors/lock-backend-unavailable.error.js';
import { LockNotAcquiredError } from './core/errors/lock-not-acquired.error.js';
import { InvalidLockKeyArgumentError } from './errors/invalid-lock-key-argument.error.js';
import {
  badKeyValueMessage,
  conflictMessage,
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
 * - {@link LockBackendUnavailableError} (Redis unreachable or too slow): 503;
 * - {@link InvalidLockKeyArgumentError} (a key value from the request is
 *   missing or not a string/number): 400.
 * Any other error, lost locks included, passes through unchanged (a lost lock
 * is a server-side failure: Nest answers 500 and logs it).
 *
 * For RPC and WebSocket handlers it throws the same payload as a plain object
 * with `status: 'error'` (the shape `RpcException`/`WsException` carry): this
 * library does not depend on @nestjs/microservices or @nestjs/websockets.
 * Override {@link toRpcError} or {@link toWsError} to wrap it in
 * `RpcException`/`WsException`, or {@link toResponse} to change the mapping.
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
    return next
      .handle()
      .pipe(
        catchError((error: unknown) =>
          throwError(() => this.map(error, context)),
        ),
      );
  }

  /** The mapped error for `error`, or `error` itself when it is no lock error this maps. */
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

  /** What an RPC handler throws; wrap in `RpcException` in a subclass if you use @nestjs/microservices. */
  protected toRpcError(response: LockErrorResponse, _cause: unknown): unknown {
    return { status: 'error', ...response };
  }

  /** What a WebSocket handler throws; wrap in `WsException` in a subclass if you use @nestjs/websockets. */
  protected toWsError(response: LockErrorResponse, _cause: unknown): unknown {
    return { status: 'error', ...response };
  }

  private setHeader(
    context: ExecutionContext,
    name: string,
    value: string,
  ): void {
    const response: unknown = context.switchToHttp().getResponse();
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
