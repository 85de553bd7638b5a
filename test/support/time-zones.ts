/**
 * The US zones the property tests draw practices and patients from: every mainland zone, Arizona
 * (no DST), Alaska and Hawaii (no DST), so DST changes, offsets without DST and the widest US
 * spread (six hours) all come up.
 */
export const US_TIME_ZONES = [
  'America/New_York',
  'America/Chicago',
  'America/Denver',
  'America/Phoenix',
  'America/Los_Angeles',
  'America/Anchorage',
  'Pacific/Honolulu',
] as const;
