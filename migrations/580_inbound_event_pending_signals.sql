-- Up Migration

-- What an inbound event (a patient's STOP, START, HELP or reply; a carrier opt-out reported in a
-- status callback; a Spruce message) still owes the open workflows after its database work
-- committed: the signals, one per patient ({practiceId, patientId, signal, event}; internal ids,
-- booleans, kinds and times only, never a body or a phone number). The consent change, its audit
-- row and this list commit in one transaction; the signals follow, then the event is marked
-- `processed` and the list cleared. An event left at `received` with a list (the process died, or
-- Temporal was unreachable, between the commit and the signals) is finished by the sweeper
-- (lib/consent/inbound-sweeper.ts), which sends the signals and marks it processed.
ALTER TABLE inbound_event ADD COLUMN pending_signals JSONB;
CREATE INDEX inbound_event_pending ON inbound_event (received_at) WHERE status = 'received' AND pending_signals IS NOT NULL;

-- Down Migration
DROP INDEX inbound_event_pending;
ALTER TABLE inbound_event DROP COLUMN pending_signals;
