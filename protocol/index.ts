export * from './auth.ts';
export * from './cid.ts';
export * from './errors.ts';
export * from './job.ts';
export * from './limits.ts';
export * from './mesh.ts';
export * from './sandbox.ts';
export * from './watch.ts';
