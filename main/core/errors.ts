import type { ErrorCode, ErrorInfo } from '../../shared/contract/index.ts';

/** An error the core throws on purpose; hosts turn it into the contract's error result. */
export class CoreError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'CoreError';
  }
}

/** Turns anything thrown into a user-facing error; unknown errors keep their stack in the log only. */
export function toErrorInfo(err: unknown, log: (msg: string) => void = console.error): ErrorInfo {
  if (err instanceof CoreError) {
    return err.detail === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, detail: err.detail };
  }
  log(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return { code: 'internal', message: 'Something went wrong inside Seedbed; the log has the details.' };
}
