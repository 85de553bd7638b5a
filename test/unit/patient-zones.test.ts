import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IANAZone } from 'luxon';
import {
  createPatientZoneActivities,
  resolvePatientZoneCandidates,
  STATE_ZONES,
  zoneOfPostalCode,
  zonesOfPhone,
} from '../../activities/patient-zones';

const PRACTICE = 'America/New_York';

describe('resolvePatientZones', () => {
  it('an explicit zone on record is the only candidate', () => {
    assert.deepEqual(
      resolvePatientZoneCandidates({ id: 'p', timeZone: 'America/Denver', postalCode: '10001' }, PRACTICE),
      ['America/Denver'],
    );
  });

  it('an invalid explicit zone is ignored, not trusted', () => {
    assert.deepEqual(
      resolvePatientZoneCandidates({ id: 'p', timeZone: 'Mars/Olympus', postalCode: '94103' }, PRACTICE),
      ['America/Los_Angeles'],
    );
  });

  it('ZIP codes map to their zone (5 digits, ZIP+4, with spaces)', () => {
    assert.equal(zoneOfPostalCode('94103'), 'America/Los_Angeles');
    assert.equal(zoneOfPostalCode('60601-1234'), 'America/Chicago');
    assert.equal(zoneOfPostalCode(' 10001 '), 'America/New_York');
    assert.equal(zoneOfPostalCode('85004'), 'America/Phoenix');
    assert.equal(zoneOfPostalCode('96813'), 'Pacific/Honolulu');
    assert.equal(zoneOfPostalCode('SW1A 1AA'), undefined);
    assert.equal(zoneOfPostalCode('00000'), undefined);
    assert.equal(zoneOfPostalCode(undefined), undefined);
  });

  it("the mobile number's area code adds its state's zones as extra candidates", () => {
    assert.deepEqual(zonesOfPhone('+14155550100'), ['America/Los_Angeles']);
    assert.deepEqual(zonesOfPhone('+12125550100'), ['America/New_York']);
    // Texas spans two zones: both are candidates.
    assert.deepEqual(zonesOfPhone('+19155550100'), ['America/Chicago', 'America/Denver']);
    assert.deepEqual(zonesOfPhone('+18005550100'), [], 'toll-free says nothing about location');
    assert.deepEqual(zonesOfPhone('+447700900000'), [], 'non-US');
    assert.deepEqual(
      resolvePatientZoneCandidates({ id: 'p', postalCode: '10001', mobilePhone: '+14155550100' }, PRACTICE),
      ['America/New_York', 'America/Los_Angeles'],
    );
  });

  it('without a usable ZIP the practice zone is always a candidate', () => {
    assert.deepEqual(resolvePatientZoneCandidates({ id: 'p' }, PRACTICE), [PRACTICE]);
    assert.deepEqual(resolvePatientZoneCandidates({ id: 'p', mobilePhone: '+13125550100' }, PRACTICE), [
      'America/Chicago',
      PRACTICE,
    ]);
    assert.deepEqual(
      resolvePatientZoneCandidates({ id: 'p', postalCode: 'n/a', mobilePhone: '+12125550100' }, PRACTICE),
      ['America/New_York'],
    );
  });

  it('the activity answers the same as the pure function', async () => {
    const { resolvePatientZones } = createPatientZoneActivities();
    const patient = { id: 'p', postalCode: '80202', mobilePhone: '+16175550100' };
    assert.deepEqual(
      await resolvePatientZones({ patient, practiceTimeZone: PRACTICE }),
      resolvePatientZoneCandidates(patient, PRACTICE),
    );
  });

  it('every state zone is a valid IANA zone', () => {
    for (const zones of Object.values(STATE_ZONES)) for (const z of zones) assert.ok(IANAZone.isValidZone(z), z);
  });

  it('property: never empty, no duplicates, only valid zones, and the practice zone whenever the ZIP is unknown', () => {
    const zip = fc.oneof(fc.constant(undefined), fc.stringMatching(/^\d{5}$/), fc.string({ maxLength: 8 }));
    const phone = fc.oneof(fc.constant(undefined), fc.stringMatching(/^\+1[2-9]\d{9}$/), fc.string({ maxLength: 14 }));
    const zone = fc.oneof(fc.constant(undefined), fc.constantFrom('America/Chicago', 'Europe/Paris', 'not a zone', ''));
    fc.assert(
      fc.property(zip, phone, zone, (postalCode, mobilePhone, timeZone) => {
        const patient = { id: 'p', postalCode, mobilePhone, timeZone };
        const zones = resolvePatientZoneCandidates(patient, PRACTICE);
        assert.ok(zones.length >= 1);
        assert.equal(new Set(zones).size, zones.length);
        for (const z of zones) assert.ok(IANAZone.isValidZone(z), z);
        const explicit = timeZone !== undefined && IANAZone.isValidZone(timeZone);
        if (!explicit && zoneOfPostalCode(postalCode) === undefined) assert.ok(zones.includes(PRACTICE));
      }),
    );
  });
});
