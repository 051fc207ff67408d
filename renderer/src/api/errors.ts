import type { ErrorCode, ErrorInfo } from '../../../shared/contract/index.ts';

/** A failed call, carrying the core's error code and a sentence a user can act on. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;

  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = 'ApiError';
    this.code = info.code;
    this.detail = info.detail;
  }
}

/** Words for anything thrown, so the one error surface never shows a stack or `[object Object]`. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message || 'Something went wrong.';
  return String(err);
}
