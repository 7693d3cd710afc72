/**
 * Send each text to every socket, in order; a socket that fails is closed after the loop (closing
 * inside it would disturb the others' sends). Used by the rooms' and the hub's watchers.
 */
export function broadcast(sockets: WebSocket[], texts: string[]): void {
  const failed: WebSocket[] = [];
  for (const ws of sockets) {
    try {
      for (const text of texts) ws.send(text);
    } catch {
      failed.push(ws);
    }
  }
  for (const ws of failed) {
    try {
      ws.close(1011, 'send failed');
    } catch {
      // gone already
    }
  }
}
