/**
 * What every Durable Object of ours does with WebSockets, written once: accept an upgrade as a
 * hibernatable socket, answer pings without waking the object, echo a close, send JSON, and
 * broadcast to many sockets with failed ones cleaned up after the loop.
 */

/** `{"type":"ping"}` is answered with `{"type":"pong"}` by the runtime, without waking the object. */
export function answerPings(ctx: DurableObjectState): void {
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
}

/** True for a WebSocket upgrade request. */
export const isUpgrade = (request: Request): boolean =>
  request.headers.get('Upgrade')?.toLowerCase() === 'websocket';

/** The answer to anything but an upgrade on a socket endpoint. */
export const upgradeRequired = (): Response => new Response('expected a WebSocket upgrade', { status: 426 });

/**
 * Accept a hibernatable WebSocket with these tags (and an attachment that survives
 * hibernation); `ready` runs before the response, e.g. to send a snapshot.
 */
export function acceptSocket(
  ctx: DurableObjectState,
  tags: string[],
  options: { attachment?: unknown; ready?: (ws: WebSocket) => void } = {},
): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  ctx.acceptWebSocket(server, tags);
  if (options.attachment !== undefined) server.serializeAttachment(options.attachment);
  options.ready?.(server);
  return new Response(null, { status: 101, webSocket: client });
}

/** Send one JSON message; false when the socket cannot take it (closed, closing). */
export function sendJson(ws: WebSocket, message: unknown): boolean {
  try {
    ws.send(JSON.stringify(message));
    return true;
  } catch {
    return false;
  }
}

/** Close with a code and reason, whatever state the socket is in. */
export function closeSocket(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason.slice(0, 120));
  } catch {
    // closed already
  }
}

/** The other side closed: close our side with its code (1005, "no code", cannot be sent back). */
export function echoClose(ws: WebSocket, code: number): void {
  closeSocket(ws, code === 1005 || code === 1006 ? 1000 : code, 'bye');
}

/**
 * Send each text to every socket, in order; a socket that fails is closed after the loop (closing
 * inside it would disturb the others' sends).
 */
export function broadcast(sockets: Iterable<WebSocket>, texts: string[]): void {
  const failed: WebSocket[] = [];
  for (const ws of sockets) {
    try {
      for (const text of texts) ws.send(text);
    } catch {
      failed.push(ws);
    }
  }
  for (const ws of failed) closeSocket(ws, 1011, 'send failed');
}
