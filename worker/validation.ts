import type { z } from 'zod';
import { describeIssues, MeshError } from '../protocol/index.ts';

/** `defaultHook` of every OpenAPIHono router: a failed schema becomes a `validation_failed` error. */
export function validationHook(result: { success: true } | { success: false; error: z.ZodError }): void {
  if (!result.success) {
    const { message, details } = describeIssues(result.error);
    throw new MeshError('validation_failed', message, details);
  }
}
