import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { frameMllp, MllpFramer } from './framer';

/** An ACK is small; anything near this size is not an ACK. */
const MAX_ACK_BYTES = 1024 * 1024;

export interface SendMllpOptions {
  host: string;
  port: number;
  /** The HL7 message (sent as UTF-8). */
  message: string;
  /** Time allowed from connecting to receiving the whole ACK. */
  timeoutMs: number;
  /**
   * MLLP over TLS: the CA that issued the listener's certificate, and this sender's client
   * certificate and key (PEM). `servername` is the name the listener's certificate carries
   * (default: `host`).
   */
  tls?: { ca: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string };
}

/**
 * Sends one message over a new MLLP connection and resolves with the first frame that comes back
 * (the ACK), as text. Rejects on timeout, on a connection error, or if the peer closes first.
 */
export function sendMllp(options: SendMllpOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const framer = new MllpFramer(MAX_ACK_BYTES);
    const tls = options.tls;
    const socket: Socket =
      tls === undefined
        ? connect({ host: options.host, port: options.port })
        : connectTls({
            host: options.host,
            port: options.port,
            ca: tls.ca,
            ...(tls.cert === undefined ? {} : { cert: tls.cert }),
            ...(tls.key === undefined ? {} : { key: tls.key }),
            // SNI takes a host name only; an IP address is checked against the certificate's IP SANs.
            ...(tls.servername !== undefined
              ? { servername: tls.servername }
              : isIP(options.host) === 0
                ? { servername: options.host }
                : {}),
          });
    let settled = false;
    const finish = (outcome: { ack: string } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if ('ack' in outcome) {
        socket.end();
        resolve(outcome.ack);
      } else {
        socket.destroy();
        reject(outcome.error);
      }
    };
    const timer = setTimeout(
      () => finish({ error: new Error(`no ACK from ${options.host}:${options.port} within ${options.timeoutMs} ms`) }),
      options.timeoutMs,
    );
    socket.on(tls === undefined ? 'connect' : 'secureConnect', () => socket.write(frameMllp(options.message)));
    socket.on('data', (chunk: Buffer) => {
      for (const event of framer.push(chunk)) {
        if (event.type === 'frame') {
          finish({ ack: event.payload.toString('utf8') });
          return;
        }
        if (event.type === 'oversize') {
          finish({ error: new Error(`the answer was ${event.bytes} bytes: not an ACK`) });
          return;
        }
      }
    });
    socket.on('error', (error) => finish({ error }));
    socket.on('close', () => finish({ error: new Error('the connection closed before an ACK arrived') }));
  });
}
