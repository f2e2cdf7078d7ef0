// The one error shape of the HTTP API: {"error": {"code", "message", "details"?}}.
// Codes are stable snake_case; messages are for humans and may change.

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown[] };
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown[],
    /** Extra response headers, e.g. WWW-Authenticate or Allow. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

export const badRequest = (code: string, message: string, details?: unknown[]): ApiError => new ApiError(400, code, message, details);
export const notFound = (code: string, message: string): ApiError => new ApiError(404, code, message);
export const conflict = (code: string, message: string, details?: unknown[]): ApiError => new ApiError(409, code, message, details);
