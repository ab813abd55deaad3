import net from 'node:net';
import { eventually } from './eventually.js';

export interface RawResponse { status: number; headers: Record<string, string>; body: string }

/** One keep-alive HTTP/1.1 connection, read as the responses arrive (each of Fastify's answers has a Content-Length). */
export class RawConnection {
  // Bytes, not text: Content-Length counts bytes, and a UTF-8 body's characters are fewer.
  private received = Buffer.alloc(0);
  private readonly socket: net.Socket;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => { this.received = Buffer.concat([this.received, chunk]); });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(url: string): Promise<RawConnection> {
    const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return new RawConnection(socket);
  }

  send(method: string, path: string, token: string | null, json?: unknown): void {
    const body = json === undefined ? '' : JSON.stringify(json);
    const type = json === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    this.socket.write(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}${type}\r\n${body}`);
  }

  /** The next whole response on the connection. */
  next(): Promise<RawResponse> {
    return eventually('a whole response', () => {
      const end = this.received.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const [statusLine, ...lines] = this.received.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const bodyEnd = end + 4 + Number(headers['content-length']);
      if (this.received.length < bodyEnd) return null;
      const response = { status: Number(statusLine!.split(' ')[1]), headers, body: this.received.subarray(end + 4, bodyEnd).toString('utf8') };
      this.received = this.received.subarray(bodyEnd);
      return response;
    });
  }
}
