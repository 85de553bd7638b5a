import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CalendarSearchLimitError, InvalidCalendarError, InvalidTimeInputError } from '../../domain/business-calendar';
import { InvalidFlagMappingError } from '../../domain/classification';
import { CONFIGURATION_ERROR_NAMES, isConfigurationError } from '../../domain/configuration-errors';
import { InvalidPatientWindowError, NoCommonSendWindowError } from '../../domain/patient-window';

describe('configuration errors of the pure rules', () => {
  it('names every configuration error class by the name its instances carry', () => {
    const errors = [
      new InvalidFlagMappingError('x'),
      new InvalidCalendarError('x'),
      new InvalidTimeInputError('x'),
      new CalendarSearchLimitError('x'),
      new InvalidPatientWindowError('x'),
    ];
    for (const err of errors) assert.ok(isConfigurationError(err), err.name);
    assert.deepEqual([...CONFIGURATION_ERROR_NAMES].sort(), errors.map((e) => e.name).sort());
  });

  it('leaves out what is not the configuration: no common window, a plain error, a non-error', () => {
    assert.equal(isConfigurationError(new NoCommonSendWindowError('x')), false);
    assert.equal(isConfigurationError(new Error('x')), false);
    assert.equal(isConfigurationError({ name: 'InvalidCalendarError', message: 'x' }), false);
  });
});
