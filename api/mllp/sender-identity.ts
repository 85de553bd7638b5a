import type { AuthenticatedSender, SenderRegistry } from '../../lib/senders';
import type { MllpPeer } from './server';

/**
 * Who an MLLP connection is: under TLS the sender its verified client certificate names, in
 * plaintext the sender that lists its source address (loopback or the operator's allow-list).
 * Anyone else is disconnected before a byte is read.
 */
export function identifyMllpSender(senders: SenderRegistry, peer: MllpPeer): AuthenticatedSender | undefined {
  if (peer.certificate !== undefined) {
    const sender = senders.byCertificate(peer.certificate);
    return sender === undefined ? undefined : { sender, channel: 'mllp-certificate' };
  }
  const sender = senders.byPlaintextSource(peer.remoteAddress);
  return sender === undefined ? undefined : { sender, channel: 'mllp-plaintext-source' };
}
