// Passwords must never reach a log line, an error message or JSON. Everything printed goes through here.

// scheme://user:password@host → scheme://user:***@host (any scheme, so postgres:// and postgresql:// alike)
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@\s/]*)@/gi;
// libpq keyword form and URL query form: password=secret
const KEYWORD_PASSWORD = /(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)/gi;

const known = new Set<string>();

// Words hints use as a placeholder (postgres://USER:PASSWORD@HOST/DB): masking them would print a hint that
// reads like a redacted real URL. A real password equal to one of them is registered and masked below anyway.
const PLACEHOLDERS = new Set(['***', 'PASSWORD', 'password', 'PASS', 'pass', '<password>', 'PW']);

/** Remember a secret so it is masked even where it appears on its own (e.g. echoed by a server). */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 3) known.add(secret);
}

export function redact(text: string): string {
  let out = text
    .replace(URL_PASSWORD, (all, head: string, pw: string) => (PLACEHOLDERS.has(pw) ? all : `${head}:***@`))
    .replace(KEYWORD_PASSWORD, (all, head: string, pw: string) => (PLACEHOLDERS.has(pw) ? all : `${head}***`));
  for (const secret of known) {
    if (out.includes(secret)) out = out.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && out.includes(encoded)) out = out.split(encoded).join('***');
  }
  return out;
}

/** Deep-redact any value headed for JSON output or logs. */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactValue(v)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = /^password$/i.test(k) ? '***' : redactValue(v);
    return out as T;
  }
  return value;
}
