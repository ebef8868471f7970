// Text bound for a terminal. Names come from the database and anyone who can create a table chooses them: a name
// holding an escape sequence could set the terminal title, move the cursor or hide lines. Every control character
// except newline and tab (C0, DEL, C1) and the Unicode bidirectional overrides is shown as an escape instead.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's whole job
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
