// Tags of dependent TOC entries (COMMENT, ACL, SECURITY LABEL) name their parent object the way pg_dump wrote it
// in SQL: identifiers quoted by fmtId() only when needed ("COLUMN "My Tbl"."Col A"", "CONSTRAINT c ON t").
// Object entries (TABLE, INDEX, …) carry the bare name instead. Comparing the two needs the quoted form parsed.

export interface ObjectTag {
  /** "TABLE", "COLUMN", "INDEX", "CONSTRAINT", "MATERIALIZED VIEW", … */
  kind: string;
  /** Identifiers as stored in the catalog (unquoted): ["t"], ["t", "col"] for COLUMN. */
  names: string[];
  /** The table of "CONSTRAINT c ON t", "TRIGGER g ON t", "POLICY p ON t", "RULE r ON t". */
  on?: string;
}

const KINDS = [
  'MATERIALIZED VIEW',
  'FOREIGN TABLE',
  'FOREIGN DATA WRAPPER',
  'TEXT SEARCH CONFIGURATION',
  'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH PARSER',
  'TEXT SEARCH TEMPLATE',
  'LARGE OBJECT',
  'EVENT TRIGGER',
  'ACCESS METHOD',
  'OPERATOR CLASS',
  'OPERATOR FAMILY',
  'TABLE',
  'COLUMN',
  'INDEX',
  'SEQUENCE',
  'VIEW',
  'CONSTRAINT',
  'TRIGGER',
  'POLICY',
  'RULE',
  'EXTENSION',
  'SCHEMA',
  'TYPE',
  'DOMAIN',
  'FUNCTION',
  'PROCEDURE',
  'AGGREGATE',
  'COLLATION',
  'CONVERSION',
  'SERVER',
  'STATISTICS',
  'PUBLICATION',
  'SUBSCRIPTION',
  'DATABASE',
  'TABLESPACE',
  'LANGUAGE',
  'OPERATOR',
  'CAST',
  'TRANSFORM',
];

/** One identifier at s[i]: "quoted" (with "" escapes) or bare; returns it unquoted and the index after it. */
export function readIdent(s: string, i: number): { name: string; end: number } | undefined {
  if (s[i] === '"') {
    let name = '';
    let j = i + 1;
    for (;;) {
      const q = s.indexOf('"', j);
      if (q < 0) return undefined;
      name += s.slice(j, q);
      if (s[q + 1] === '"') {
        name += '"';
        j = q + 2;
        continue;
      }
      return { name, end: q + 1 };
    }
  }
  // fmtId leaves only lower-case letters, digits, _ and $ unquoted.
  const m = /^[a-z0-9_$]+/.exec(s.slice(i));
  return m ? { name: m[0], end: i + m[0].length } : undefined;
}

/**
 * Parse "KIND ident[.ident] [ON ident]" from the start of a TOC tag (anything after it — the owner — is
 * ignored). Returns undefined for kinds whose names are not plain identifiers (functions, casts, operators).
 */
export function parseObjectTag(tag: string): ObjectTag | undefined {
  const kind = KINDS.find((k) => tag.startsWith(`${k} `));
  if (!kind || ['FUNCTION', 'PROCEDURE', 'AGGREGATE', 'OPERATOR', 'CAST', 'TRANSFORM', 'LARGE OBJECT', 'OPERATOR CLASS', 'OPERATOR FAMILY'].includes(kind)) {
    return undefined;
  }
  let i = kind.length + 1;
  const names: string[] = [];
  for (;;) {
    const id = readIdent(tag, i);
    if (!id) return undefined;
    names.push(id.name);
    i = id.end;
    if (tag[i] === '.') i++;
    else break;
  }
  if (tag.startsWith(' ON ', i)) {
    const on = readIdent(tag, i + 4);
    if (!on) return undefined;
    return { kind, names, on: on.name };
  }
  return { kind, names };
}
