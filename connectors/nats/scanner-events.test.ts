import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Packr } from 'msgpackr';
import { parseScanEvent } from './scanner-events.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const t0 = 1_760_000_000_000;

const turnstile = {
  v: 1,
  eventId: 'e-1',
  time: t0,
  person: 'p_7f3a',
  role: 'pupil',
  class: '7B',
  direction: 'in',
  gate: 'main',
};
const air = {
  v: 1,
  eventId: 'a-1',
  time: t0,
  sensor: 'air-3',
  room: 'library',
  co2Ppm: 900,
  pm25: 12,
  temperatureC: 22.5,
  humidityPct: 40,
};

function reasonOf(subject: string, data: Uint8Array, contentType?: string): string {
  const r = parseScanEvent(subject, data, contentType);
  assert.equal(r.ok, false, `expected a rejection, got ${JSON.stringify(r)}`);
  return r.ok ? '' : r.reason;
}

describe('parseScanEvent', () => {
  it('takes kind and school from the subject and strips unknown keys', () => {
    const r = parseScanEvent(
      'kuzet.scan.turnstile.s1',
      json({ ...turnstile, firmware: '2.1' }),
      'application/json',
    );
    assert.deepEqual(r, { ok: true, event: { ...turnstile, kind: 'turnstile', schoolId: 's1' } });
  });

  it('decodes msgpack by header or, without one, by the first byte; JSON without a header too', () => {
    for (const [data, type] of [
      [packr.pack(air), 'application/msgpack'],
      [packr.pack(air), 'application/x-msgpack'],
      [packr.pack(air), undefined],
      [json(air), undefined],
      [json(air), 'application/json; charset=utf-8'],
    ] as const) {
      const r = parseScanEvent('kuzet.scan.air.s2', data, type);
      assert.ok(r.ok, `${type}: ${JSON.stringify(r)}`);
      assert.equal(r.event.kind, 'air');
      assert.equal(r.event.schoolId, 's2');
    }
  });

  it('accepts ISO times (with offset) and uint64 msgpack times', () => {
    const iso = parseScanEvent(
      'kuzet.scan.panic.s1',
      json({ v: 1, eventId: 'x', time: '2025-10-09T08:00:00+05:00', button: 'b1', room: '101' }),
      undefined,
    );
    assert.ok(iso.ok);
    assert.equal(iso.event.time, Date.UTC(2025, 9, 9, 3));
    const big = parseScanEvent(
      'kuzet.scan.fire.s1',
      packr.pack({ v: 1, eventId: 'f', time: BigInt(t0), sensor: 'smoke-1', room: 'attic', state: 'alarm' }),
      undefined,
    );
    assert.ok(big.ok);
    assert.equal(big.event.time, t0);
  });

  it('defaults a missing class to null for staff, but requires it for a pupil', () => {
    const { class: _class, ...noClass } = turnstile;
    const staff = parseScanEvent('kuzet.scan.turnstile.s1', json({ ...noClass, role: 'staff' }), undefined);
    assert.ok(staff.ok && staff.event.kind === 'turnstile' && staff.event.class === null);
    assert.equal(reasonOf('kuzet.scan.turnstile.s1', json(noClass)), 'class: required for a pupil');
  });

  it('names the field in every rejection', () => {
    const { person: _person, ...noPerson } = turnstile;
    const cases: Array<[string, Uint8Array, string | undefined, string]> = [
      ['kuzet.scan.turnstile.s1', json(noPerson), undefined, 'person: required'],
      ['kuzet.scan.air.s1', json({ ...air, co2Ppm: 12_000 }), undefined, 'co2Ppm: must be <= 10000'],
      ['kuzet.scan.air.s1', json({ ...air, temperatureC: -41 }), undefined, 'temperatureC: must be >= -40'],
      ['kuzet.scan.air.s1', json({ ...air, pm25: '12' }), undefined, 'pm25: must be a number'],
      ['kuzet.scan.turnstile.s1', new TextEncoder().encode('{"v":1,'), undefined, 'payload: not valid JSON'],
      ['kuzet.scan.turnstile.s1', new Uint8Array([0x81, 0xa1]), undefined, 'payload: not valid msgpack'],
      ['kuzet.scan.turnstile.s1', json([1]), 'application/json', 'payload: must be an object'],
      ['kuzet.scan.turnstile.s1', json(turnstile), 'text/plain', "content-type: unsupported 'text/plain'"],
      ['kuzet.scan.door.s1', json(turnstile), undefined, "subject: unknown scan kind 'door'"],
      [
        'kuzet.scan.turnstile',
        json(turnstile),
        undefined,
        "subject: expected kuzet.scan.<kind>.<schoolId>, got 'kuzet.scan.turnstile'",
      ],
      ['kuzet.scan.turnstile.s1', json({ ...turnstile, v: 2 }), undefined, 'v: must be 1'],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, eventId: '' }),
        undefined,
        'eventId: must not be empty',
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, direction: 'up' }),
        undefined,
        'direction: must be one of "in", "out"',
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, person: 'Aigerim N.' }),
        undefined,
        'person: must be 1-128 characters of letters, digits, "-" or "_"',
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, time: 1_760_000_000 }),
        undefined,
        'time: must be ms since epoch between 2000 and 2100',
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, time: 'yesterday' }),
        undefined,
        'time: must be ms since epoch or an ISO-8601 date-time',
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, kind: 'palm' }),
        undefined,
        "kind: 'palm' does not match subject kind 'turnstile'",
      ],
      [
        'kuzet.scan.turnstile.s1',
        json({ ...turnstile, schoolId: 's9' }),
        undefined,
        "schoolId: 's9' does not match subject school 's1'",
      ],
      [
        'kuzet.scan.fire.s1',
        json({ v: 1, eventId: 'f', time: t0, sensor: 's', room: 'r', state: 'smoke' }),
        undefined,
        'state: must be one of "alarm", "clear", "fault"',
      ],
      ['kuzet.scan.air.s1', json({ ...air, humidityPct: null }), undefined, 'humidityPct: must be a number'],
    ];
    for (const [subject, data, type, reason] of cases)
      assert.equal(reasonOf(subject, data, type), reason, subject);
  });

  it('rejects non-finite numbers that msgpack can carry', () => {
    assert.equal(
      reasonOf('kuzet.scan.air.s1', packr.pack({ ...air, co2Ppm: NaN })),
      'co2Ppm: must be a number',
    );
    assert.match(reasonOf('kuzet.scan.air.s1', packr.pack({ ...air, pm25: Infinity })), /^pm25: /);
  });
});
