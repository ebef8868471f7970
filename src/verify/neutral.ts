// Definitions compared by what they mean, not by one major's text. The server's deparsers print the same catalog
// object differently from one major to the next, in three known ways:
// - quoting: a word that became a keyword is quoted by the newer server (json from 16 on: test."json", "json" json);
// - pg_catalog.json: 16 and newer print the json type without its schema, also where names are forced qualified;
// - view columns: 16 and newer drop the relation qualifier in single-relation views ("t.id" → "id").
// Texts are read as SQL tokens (string literals and dollar-quoted bodies kept whole, as they are: never rewritten),
// so whitespace between tokens does not count and nothing inside a literal or a function body is ever changed.

export interface Token {
  kind: 'word' | 'quoted' | 'literal' | 'number' | 'punct';
  text: string;
  /** The whitespace before it. */
  pre: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_REST = /[A-Za-z0-9_$\u0080-\uffff]*/y;
const SPACE = /\s*/y;

/** SQL tokens of `text`; a quoted identifier whose name is in `unquote` becomes that plain word. */
export function tokenize(text: string, unquote: ReadonlySet<string> = new Set()): Token[] {
  const out: Token[] = [];
  const n = text.length;
  let i = 0;
  // A '…' literal from `from` (the opening quote) to just after its end; backslash escapes when `escapes`.
  const literalEnd = (from: number, escapes: boolean): number => {
    let j = from + 1;
    while (j < n) {
      if (escapes && text[j] === '\\') j += 2;
      else if (text[j] === "'" && text[j + 1] === "'") j += 2;
      else if (text[j] === "'") return j + 1;
      else j++;
    }
    return n;
  };
  while (i < n) {
    const spaceFrom = i;
    SPACE.lastIndex = i;
    SPACE.test(text);
    i = SPACE.lastIndex;
    if (i === n) break;
    const pre = text.slice(spaceFrom, i);
    const push = (kind: Token['kind'], end: number, as?: string) => {
      out.push({ kind, text: as ?? text.slice(i, end), pre });
      i = end;
    };
    const c = text[i]!;
    const dollar = c === '$' ? /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64)) : null;
    if (c === "'") {
      push('literal', literalEnd(i, false));
    } else if (c === '"') {
      let j = i + 1;
      while (j < n && !(text[j] === '"' && text[j + 1] !== '"')) j += text[j] === '"' ? 2 : 1;
      const name = text.slice(i + 1, j).replace(/""/g, '"');
      if (unquote.has(name)) push('word', j + 1, name);
      else push('quoted', j + 1);
    } else if (dollar) {
      const close = text.indexOf(dollar[0], i + dollar[0].length);
      push('literal', close < 0 ? n : close + dollar[0].length);
    } else if (WORD_START.test(c)) {
      WORD_REST.lastIndex = i + 1;
      WORD_REST.test(text);
      const j = WORD_REST.lastIndex;
      const word = text.slice(i, j);
      if (text[j] === "'" && /^[EeBbXxNn]$/.test(word)) push('literal', literalEnd(j, word === 'E' || word === 'e'));
      else push('word', j);
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9.eE]/.test(text[j]!) && !(text[j] === '.' && text[j + 1] === '.')) j++;
      push('number', j);
    } else {
      push('punct', c === ':' && text[i + 1] === ':' ? i + 2 : i + 1);
    }
  }
  return out;
}

/** How two majors print differently: the words only one of them quotes, and whether json lost its pg_catalog. */
export interface Dialects {
  unquote: ReadonlySet<string>;
  jsonUnqualified: boolean;
}

export const SAME_DIALECT: Dialects = { unquote: new Set(), jsonUnqualified: false };

/**
 * The words quote_ident() quotes on one side and not on the other (from each server's pg_get_keywords():
 * every keyword but the unreserved ones is quoted).
 */
export function dialects(sourceQuoted: string[], targetQuoted: string[], majors: { source: number; target: number }): Dialects {
  const a = new Set(sourceQuoted);
  const b = new Set(targetQuoted);
  const unquote = new Set([...a].filter((w) => !b.has(w)).concat([...b].filter((w) => !a.has(w))));
  return { unquote, jsonUnqualified: majors.source < 16 !== majors.target < 16 };
}

/** `text` as tokens in the form both majors agree on. */
export function neutralTokens(text: string, d: Dialects): Token[] {
  const tokens = tokenize(text, d.unquote);
  if (!d.jsonUnqualified) return tokens;
  const out: Token[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'word' && t.text === 'pg_catalog' && tokens[i + 1]?.text === '.' && tokens[i + 2]?.kind === 'word' && tokens[i + 2]!.text === 'json') {
      out.push({ ...tokens[i + 2]!, pre: t.pre }); // json in place of pg_catalog.json
      i += 2;
      continue;
    }
    out.push(t);
  }
  return out;
}

export const joinTokens = (tokens: Token[]) => tokens.map((t) => t.text).join(' ');

/** One text in the form both majors agree on, its spacing kept (for names and keys). */
export function neutral(text: string, d: Dialects): string {
  // Nothing to rewrite (most names): the text itself, read no further.
  if ((d.unquote.size === 0 || !text.includes('"')) && !(d.jsonUnqualified && text.includes('pg_catalog.json'))) return text;
  return (
    neutralTokens(text, d)
      .map((t) => t.pre + t.text)
      .join('') + text.slice(text.trimEnd().length)
  );
}

/** Tokens after which a dotted name is a schema-qualified type or relation, never a column's qualifier. */
const NOT_AFTER = new Set(['::', '.', 'FROM', 'JOIN', 'UPDATE', 'INTO', 'ONLY', 'TABLE']);

const isName = (t: Token | undefined) => t !== undefined && (t.kind === 'word' || t.kind === 'quoted');

/**
 * `older[i]` starts a relation qualifier of a column ("t" "." "id") that a newer major leaves out: a name then a
 * dot then a column name (or *), not a function call (schema.function(…)), not a type after ::, not part of a
 * longer dotted name, not inside OPERATOR(…).
 */
function qualifierAt(older: Token[], i: number): boolean {
  if (!isName(older[i]) || older[i + 1]?.text !== '.') return false;
  const next = older[i + 2];
  if (!(isName(next) || next?.text === '*')) return false;
  if (older[i + 3]?.text === '(' || older[i + 3]?.text === '.') return false;
  const before = older[i - 1]?.text;
  if (before === undefined || NOT_AFTER.has(before)) return false;
  if (before === '(' && older[i - 2]?.text === 'OPERATOR') return false;
  return true;
}

/**
 * The older major's view text equals the newer one's once some relation qualifiers of columns are left out
 * (and only those: every other token must be equal, in order). Search with backtracking, memoised on the
 * positions that failed, so it stays linear in practice.
 */
export function equalButQualifiers(older: Token[], newer: Token[]): boolean {
  const failed = new Set<number>();
  const width = newer.length + 1;
  // Iterative depth-first search over (i, j): i in older, j in newer.
  const stack: Array<[number, number]> = [[0, 0]];
  while (stack.length > 0) {
    const [i, j] = stack.pop()!;
    if (i === older.length && j === newer.length) return true;
    const key = i * width + j;
    if (failed.has(key)) continue;
    failed.add(key);
    if (qualifierAt(older, i)) stack.push([i + 2, j]);
    if (i < older.length && j < newer.length && older[i]!.text === newer[j]!.text) stack.push([i + 1, j + 1]);
  }
  return false;
}
