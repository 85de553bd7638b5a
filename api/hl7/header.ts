import { parseHl7DateTime } from './datetime';
import type { Hl7Reader, Hl7Segment } from './segments';

/** HL7 HD (hierarchic designator): an application or facility, e.g. `LAB^2.16.840.1.113883.3.1^ISO`. */
export interface Hl7HierarchicDesignator {
  namespaceId: string;
  universalId?: string;
  universalIdType?: string;
}

/** The MSH segment of a message, decoded. Plain data: it may be logged only as IDs (never values). */
export interface Hl7Header {
  /** MSH-1 as sent. */
  fieldSeparator: string;
  /** MSH-2 as sent (component, repetition, escape, sub-component). */
  encodingCharacters: string;
  sendingApplication: Hl7HierarchicDesignator;
  sendingFacility: Hl7HierarchicDesignator;
  receivingApplication: Hl7HierarchicDesignator;
  receivingFacility: Hl7HierarchicDesignator;
  /** MSH-7 as ISO text, when it is a valid HL7 date/time. */
  dateTime?: string;
  /** MSH-9.1, e.g. `ORU`. */
  messageType: string;
  /** MSH-9.2, e.g. `R01`. */
  triggerEvent: string;
  /** MSH-9.3, e.g. `ORU_R01` (absent before v2.3.1 and often omitted). */
  messageStructure: string;
  /** MSH-10: echoed in MSA-2 of the ACK. */
  messageControlId: string;
  /** MSH-11.1: P (production), T (training), D (debugging). */
  processingId: string;
  /** MSH-12.1, e.g. `2.5.1`. */
  version: string;
  /** MSH-15 (table 0155: AL, NE, ER, SU); both empty means original acknowledgment mode. */
  acceptAckType?: string;
  /** MSH-16 (table 0155). */
  applicationAckType?: string;
}

function hierarchicDesignator(reader: Hl7Reader, msh: Hl7Segment, field: number): Hl7HierarchicDesignator {
  const hd: Hl7HierarchicDesignator = { namespaceId: reader.value(msh, field, 1) };
  const universalId = reader.value(msh, field, 2);
  const universalIdType = reader.value(msh, field, 3);
  if (universalId !== '') hd.universalId = universalId;
  if (universalIdType !== '') hd.universalIdType = universalIdType;
  return hd;
}

/** Decodes MSH leniently: every field may be empty here; validation is the parser's job. */
export function readHeader(reader: Hl7Reader, msh: Hl7Segment): Hl7Header {
  const header: Hl7Header = {
    fieldSeparator: reader.raw(msh, 1),
    encodingCharacters: reader.raw(msh, 2),
    sendingApplication: hierarchicDesignator(reader, msh, 3),
    sendingFacility: hierarchicDesignator(reader, msh, 4),
    receivingApplication: hierarchicDesignator(reader, msh, 5),
    receivingFacility: hierarchicDesignator(reader, msh, 6),
    messageType: reader.value(msh, 9, 1),
    triggerEvent: reader.value(msh, 9, 2),
    messageStructure: reader.value(msh, 9, 3),
    messageControlId: reader.value(msh, 10),
    processingId: reader.value(msh, 11),
    version: reader.value(msh, 12),
  };
  const dateTime = parseHl7DateTime(reader.value(msh, 7));
  if (dateTime !== undefined) header.dateTime = dateTime;
  const acceptAckType = reader.value(msh, 15);
  const applicationAckType = reader.value(msh, 16);
  if (acceptAckType !== '') header.acceptAckType = acceptAckType;
  if (applicationAckType !== '') header.applicationAckType = applicationAckType;
  return header;
}
