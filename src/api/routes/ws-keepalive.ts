import type { WebSocket } from 'ws';

/**
 * Pings `socket` every `intervalMs` and calls `onDead` when a ping went unanswered for a whole
 * interval. An interval in which the server is not reading the socket (paused while its actions
 * run: inbox-ws.ts) judges nothing: the client's pong sits unread behind its own frames, and a
 * busy live client would be cut off for the server's slowness. It is pinged afresh once read
 * again. Returns the function that stops the pings.
 */
export function keepAlive(socket: WebSocket, intervalMs: number, onDead: () => void): () => void {
  let answered = true;
  const onPong = () => {
    answered = true;
  };
  socket.on('pong', onPong);
  const timer = setInterval(() => {
    if (socket.isPaused) {
      answered = true;
      return;
    }
    if (!answered) {
      onDead();
      return;
    }
    answered = false;
    socket.ping();
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    socket.off('pong', onPong);
  };
}
