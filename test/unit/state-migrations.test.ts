// The state migrations are immutable once shipped: targets in the field hold their SQL, recorded by id. Each file's
// SQL is pinned by its hash; a new migration is appended with the next id (add its hash here).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, STATE_VERSION } from '../../src/state/migrations.js';

const SHIPPED: Array<[number, string]> = [
  [1, '9dbe11c6b9dadb90eff7bdfba8a7693b1fd01a2cf17223f9c5351a12fac49fb9'],
  [2, '33864c844184d076eebb9ab4ab678fe02d3f4a617630524d176d075f43c6260e'],
  [3, '24f69176ccf540c5fcb6ae14e51b05d1f104c985ca149676e4e38d42720a7ba6'],
  [4, 'b6019c387ae7bbe118be6deea90481a944779e68c99c0a6d6b8700ad08e16adf'],
  [5, '015b8178ff81767a305817c1c22feea6ab61a0b219240e1fadbb71a5cc9d5b29'],
  [6, '21c87d0d0efad749335831906f9142dd572d1c67e0e0c69f64d8d1aec9d093ed'],
  [7, 'ef09e10910eccc3a238ed8249c6023dd6f8dc0596f66547d514eb3a75788df96'],
  [8, '8a113cc557cbe0dddb13335e409e1683f2d4fb20a1c20c0bb72a73c75abe8fc0'],
  [9, '0789254c281d6707aa375bb43ddc29cd3385b46427e94a32e3093d593b1af2b1'],
  [10, '9434b1ea3cf7adb2f9246afad5a57138422d5e8e01e0aa2a1c1ba6f63c0f4c41'],
];

describe('state migrations', () => {
  it('are numbered 1, 2, 3, … in order, the newest being the state version', () => {
    expect(MIGRATIONS.map((m) => m.id)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(STATE_VERSION).toBe(MIGRATIONS.length);
  });

  it('keep the SQL they shipped with, byte for byte', () => {
    for (const [id, sha] of SHIPPED) {
      const m = MIGRATIONS.find((x) => x.id === id)!;
      expect(createHash('sha256').update(m.sql).digest('hex'), `migration ${id} (${m.name}) was edited`).toBe(sha);
    }
  });
});
