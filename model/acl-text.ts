// Checks for text that ends up verbatim on an HAProxy config line (`acl <name> <text>`).
// HAProxy splits a line into words itself: quotes, backslashes, `#` and `$` all mean
// something there, so anything user-written is either single-quoted (no escapes inside)
// or validated word by word below.

/** Control characters, plus the Unicode line/paragraph separators some tools treat as newlines. */
export const CONTROL_CHARS = /[\p{Cc}\u2028\u2029]/u;

export const HEADER_NAME = /^[A-Za-z0-9_-]{1,128}$/;
export const COOKIE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
export const MAX_VALUE_LENGTH = 256;
export const MAX_RAW_ACL_LENGTH = 1024;

/** A value we quote with `quoteAclValue`; returns an error message or null. */
export function checkQuotedValue(value: string): string | null {
  if (value === '') return 'the value is empty';
  if (value.length > MAX_VALUE_LENGTH) return `the value is longer than ${MAX_VALUE_LENGTH} characters`;
  if (CONTROL_CHARS.test(value)) return 'the value contains a control character (newline, tab, NUL, ...)';
  if (value.includes('\\')) return 'the value contains a backslash, which is not allowed';
  return null;
}

/**
 * One HAProxy word holding `value` literally: single-quoted (nothing is special inside), with
 * each `'` written as `'\''` (close the quotes, an escaped quote, reopen), as in a shell.
 * Only for values `checkQuotedValue` accepted (no control characters).
 */
export function quoteAclValue(value: string): string {
  return `'${value.split("'").join("'\\''")}'`;
}

const FETCH_NAME = /^[a-z][a-z0-9_.]*/;

/**
 * Validates a raw ACL (`< ... >` in a condition). Mirrors HAProxy's line tokenizer:
 * outside quotes `\` escapes one character and `#` starts a comment; inside double quotes
 * `\` escapes and `$` expands environment variables; inside single quotes nothing is special.
 */
export function checkRawAcl(text: string): string | null {
  if (text === '') return 'the raw ACL is empty';
  if (text.length > MAX_RAW_ACL_LENGTH) return `the raw ACL is longer than ${MAX_RAW_ACL_LENGTH} characters`;
  if (CONTROL_CHARS.test(text)) return 'the raw ACL contains a control character (newline, tab, NUL, ...)';
  const fetch = FETCH_NAME.exec(text);
  if (!fetch) return 'the raw ACL must start with a sample fetch name such as req.hdr(...) or path_beg';
  let quote: '' | "'" | '"' = '';
  let depth = 0;
  let fetchEnded = false;
  let word = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = '';
      continue;
    }
    if (c === '\\') {
      if (i === text.length - 1) return 'the raw ACL ends with a backslash';
      i++;
      word += '\\x';
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = '';
      else if (c === '$') return 'the raw ACL contains "$" inside double quotes, which HAProxy expands as an environment variable';
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      word += c;
      continue;
    }
    if (c === '#') return 'the raw ACL contains an unquoted "#", which starts a comment in HAProxy';
    if (c === '{' || c === '}') return 'the raw ACL contains "{" or "}", which is not allowed';
    if (c === '$') return 'the raw ACL contains an unquoted "$", which is not allowed';
    if (!fetchEnded) {
      // The fetch name may take arguments in parentheses and converters after ","; it ends at a space.
      if (c === '(') depth++;
      else if (c === ')') {
        depth--;
        if (depth < 0) return 'the raw ACL has an unbalanced ")" in its sample fetch';
      } else if (c === ' ' && depth === 0) fetchEnded = true;
      else if (c === ' ') return 'the raw ACL has a space inside the parentheses of its sample fetch; quote the argument';
      else if (i >= (fetch[0] as string).length && depth === 0 && !/[a-z0-9_.,]/i.test(c))
        return `the raw ACL has an unexpected ${JSON.stringify(c)} in its sample fetch at column ${i + 1}`;
      continue;
    }
    if (c === ' ') {
      if (word === '-f' || word === '-M') return 'pattern files (-f / -M) are not allowed in a raw ACL';
      word = '';
    } else word += c;
  }
  if (quote !== '') return `the raw ACL has an unbalanced ${quote === "'" ? 'single' : 'double'} quote`;
  if (depth !== 0) return 'the raw ACL has an unbalanced "(" in its sample fetch';
  if (word === '-f' || word === '-M') return 'pattern files (-f / -M) are not allowed in a raw ACL';
  return null;
}
