import type { ReactNode } from 'react';
import { MeshApiError } from '../../../client/index.ts';

/** A readable sentence for any error: the API's message with its code, or the error's message. */
export function describeError(error: unknown): string {
  if (error instanceof MeshApiError) {
    if (error.code === 'unreachable') return `The API cannot be reached: ${error.message}`;
    return `${error.message} (${error.code})`;
  }
  if (error instanceof Error) {
    const short = (error as Error & { shortMessage?: string }).shortMessage;
    return short ?? error.message;
  }
  return String(error);
}

export function Loading({ children = 'Loading…' }: { children?: ReactNode }) {
  return (
    <p className="status status-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {children}
    </p>
  );
}

export function ErrorBox({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  return (
    <div className="status status-error" role="alert">
      <strong>{title}</strong>
      <p>{describeError(error)}</p>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="status status-empty">{children}</p>;
}
