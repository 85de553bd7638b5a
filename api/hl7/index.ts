/**
 * HL7 v2 ingestion: ORU^R01 parsing into LabResults, ACKs, and splitting files into messages.
 */
export { buildAck, type AckInput, type AckOutcome } from './ack';
export { ackReplyFor, commitCode, type AckReply } from './ack-mode';
export { parseHl7Date, parseHl7DateTime } from './datetime';
export { DEFAULT_ENCODING, type Hl7Encoding } from './encoding';
export { escapeHl7, unescapeHl7 } from './escape';
export { hl7RetransmissionFingerprint, hl7Sender } from './fingerprint';
export type { Hl7Header, Hl7HierarchicDesignator } from './header';
export { parseOru, SUPPORTED_HL7_VERSIONS, type ParseOruOptions, type ParseOutcome } from './oru';
export { fieldName, Hl7ErrorCode, HL7_ERROR_TEXT, type Hl7Problem, type Hl7Warning } from './problem';
export { splitHl7Messages } from './split';
