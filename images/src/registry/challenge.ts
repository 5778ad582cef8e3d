// WWW-Authenticate challenges (RFC 7235), as registries send them:
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull"
//   Basic realm="Registry Realm"
// Pure: a header in, the list of challenges out.

export interface Challenge {
  /** Lower case: "basic", "bearer". */
  scheme: string;
  /** Parameter names lower case, values unquoted. */
  params: Record<string, string>;
}

const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  const skip = (re: RegExp): void => {
    rest = rest.replace(re, '');
  };
  for (;;) {
    skip(/^[\s,]+/);
    if (rest === '') break;
    const token = tokenRe.exec(rest)?.[0];
    if (token === undefined) break; // garbage: keep what was understood so far
    rest = rest.slice(token.length);
    skip(/^\s*/);
    if (rest.startsWith('=') && current !== undefined && !rest.startsWith('==')) {
      rest = rest.slice(1);
      skip(/^\s*/);
      let value: string;
      if (rest.startsWith('"')) {
        value = '';
        let i = 1;
        for (; i < rest.length && rest[i] !== '"'; i++) {
          if (rest[i] === '\\' && i + 1 < rest.length) i++;
          value += rest[i];
        }
        rest = rest.slice(i + 1);
      } else {
        value = tokenRe.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      // A bare token starts a new challenge; a token68 credential after it is ignored.
      current = { scheme: token.toLowerCase(), params: {} };
      challenges.push(current);
      const token68 = /^[A-Za-z0-9\-._~+/]+=*(?=\s*(,|$))/.exec(rest);
      if (token68 !== null && !rest.startsWith(',')) rest = rest.slice(token68[0].length);
    }
  }
  return challenges;
}
