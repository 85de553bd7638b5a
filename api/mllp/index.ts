/** MLLP transport for HL7 v2: framing, the listener and a one-shot client. */
export { frameMllp, MllpFramer, type MllpEvent } from './framer';
export { startMllpServer, type MllpDiagnostic, type MllpPeer, type MllpServer, type MllpServerOptions } from './server';
export { sendMllp, type SendMllpOptions } from './client';
