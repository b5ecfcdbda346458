/** Coded errors: every failure names what failed and, where possible, the fix. */
export const ErrorCodes = {
  KUZET_ERR_CONFIG: 'Invalid configuration',
  KUZET_ERR_CAMERA: 'Camera failure',
  KUZET_ERR_RTSP: 'RTSP protocol failure',
  KUZET_ERR_DECODE: 'Decode failure',
  KUZET_ERR_MODEL: 'Model failure',
  KUZET_ERR_DB: 'Database failure',
  KUZET_ERR_BUS: 'Message bus failure',
  KUZET_ERR_SETUP: 'Missing system dependency',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class KuzetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'KuzetError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
