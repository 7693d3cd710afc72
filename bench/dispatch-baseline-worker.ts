// Tinypool worker for the dispatch baseline: the user's function run directly, with no sandbox and no network.
let fn: ((input: unknown) => unknown) | undefined;

export default async function run({ source, input }: { source: string; input: unknown }): Promise<string> {
  fn ??= (
    (await import(`data:text/javascript,${encodeURIComponent(source)}`)) as {
      default: (i: unknown) => unknown;
    }
  ).default;
  // Serialize like a node does, so both sides pay for JSON.
  return JSON.stringify(await fn(input));
}
