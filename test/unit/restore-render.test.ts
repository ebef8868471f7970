// The pure pieces of rendering a restore batch: counting the entries pg_restore wrote, and default privileges of
// the source's role handed to the target's role (copy without --keep-owner).
import { describe, expect, it } from 'vitest';
import { defaultAclsForTargetRole, renderedEntries } from '../../src/schema/dump.js';

describe('restore batch rendering', () => {
  it('counts one entry per "-- Name: …; Type:" header, data headers included', () => {
    const sql = [
      '--',
      '-- Name: TABLE t; Type: COMMENT; Schema: public; Owner: -',
      '--',
      "COMMENT ON TABLE public.t IS 'x';",
      '--',
      '-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -',
      '--',
      '-- a comment that says Name: but is no header',
    ].join('\n');
    expect(renderedEntries(sql)).toBe(2);
    expect(renderedEntries('SET x = 1;\n')).toBe(0);
  });

  it('drops FOR ROLE only for the source role, plain or quoted', () => {
    const sql = [
      'ALTER DEFAULT PRIVILEGES FOR ROLE heroku_owner IN SCHEMA app GRANT SELECT ON TABLES TO reader;',
      'ALTER DEFAULT PRIVILEGES FOR ROLE other IN SCHEMA app GRANT SELECT ON TABLES TO reader;',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "Odd.Role" GRANT ALL ON SEQUENCES TO reader;',
    ].join('\n');
    expect(defaultAclsForTargetRole(sql, 'heroku_owner').split('\n')).toEqual([
      'ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reader;',
      'ALTER DEFAULT PRIVILEGES FOR ROLE other IN SCHEMA app GRANT SELECT ON TABLES TO reader;',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "Odd.Role" GRANT ALL ON SEQUENCES TO reader;',
    ]);
    expect(defaultAclsForTargetRole(sql, 'Odd.Role')).toContain('ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO reader;');
  });
});
