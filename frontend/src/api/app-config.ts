import { AppConfig } from '../../../protocol/config.ts';

export { AppConfig };

/** GET /api/v1/config, decoded with the schema the Worker serves it with. */
export async function loadAppConfig(origin = location.origin, signal?: AbortSignal): Promise<AppConfig> {
  const res = await fetch(`${origin}/api/v1/config`, signal ? { signal } : {});
  if (!res.ok) throw new Error(`the API answered ${res.status} for /api/v1/config`);
  return AppConfig.parse(await res.json());
}
