import { WebSocketServer } from 'ws';

/**
 * The physical limit of realtime fan-out here: a bare `ws` server that relays every message it
 * receives to every connected socket, the sender included — no authentication, validation,
 * decision or database write. Run as a process of its own, like the service. Environment: PORT.
 */
const server = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.PORT) });
server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => {
    for (const client of server.clients) if (client.readyState === client.OPEN) client.send(data, { binary: isBinary });
  });
});
server.on('listening', () => process.stdout.write('{"msg":"relay listening"}\n'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
