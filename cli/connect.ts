import { createClient, type MeshClient } from '../client/index.ts';
import { type Connection, requireKey, resolveConnection } from './config.ts';

/** A client for the API and key the flags, environment and saved config name (exit 3 without a key). */
export function connect(flags: { api?: string | undefined; key?: string | undefined }): {
  client: MeshClient;
  connection: Connection;
} {
  const connection = resolveConnection(flags);
  const apiKey = requireKey(connection);
  return { client: createClient({ url: connection.api, apiKey }), connection };
}
