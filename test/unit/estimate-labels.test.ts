// The critical path and the timeline name each build; a key's two halves and a foreign key's two halves must not
// read as the same step twice.
import { describe, expect, it } from 'vitest';
import type { BuildJob } from '../../src/copy/schedule.js';
import { buildLabel } from '../../src/estimate/simulate.js';

const job = (o: Partial<BuildJob>): BuildJob => ({
  kind: 'index',
  schema: 'public',
  table: 't',
  name: 't_pkey',
  stateName: 't_pkey',
  statements: [],
  needsData: [],
  needsKeys: [],
  ...o,
});

describe('estimate: build labels', () => {
  it('names the halves of a key and of a foreign key', () => {
    expect(buildLabel(job({ statements: ['CREATE UNIQUE INDEX t_pkey ON public.t (id)'] }))).toBe('t_pkey');
    expect(buildLabel(job({ attach: true, statements: ['ALTER TABLE public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey'] }))).toBe(
      't_pkey (attach)',
    );
    const fk = { kind: 'foreign key' as const, name: 't_u_fkey' };
    expect(buildLabel(job({ ...fk, statements: ['ALTER TABLE public.t ADD CONSTRAINT t_u_fkey FOREIGN KEY (u) REFERENCES public.u(id) NOT VALID'] }))).toBe(
      't_u_fkey (NOT VALID)',
    );
    expect(buildLabel(job({ ...fk, validate: true, statements: ['ALTER TABLE public.t VALIDATE CONSTRAINT t_u_fkey'] }))).toBe('t_u_fkey (validate)');
    expect(buildLabel(job({ ...fk, statements: ['ALTER TABLE public.t ADD CONSTRAINT t_u_fkey FOREIGN KEY (u) REFERENCES public.u(id)'] }))).toBe('t_u_fkey');
  });
});
