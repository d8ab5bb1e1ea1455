// scanJson / parseJsonText: pure, no HTTP (issue 10 items 6 and 8).
import { parseJsonText, scanJson } from './json-body.js';
import { toProblem } from './problem.js';

describe('scanJson', () => {
  test('counts nesting of objects and arrays, not brackets inside strings', () => {
    expect(scanJson('{"a":[1,{"b":2}]}', 3)).toEqual({ ok: true });
    expect(scanJson('{"a":[1,{"b":2}]}', 2)).toEqual({ ok: false, reason: 'too_deep', limit: 2 });
    expect(scanJson('{"a":"[[[[[[{{{{"}', 1)).toEqual({ ok: true });
    // Escaped quotes and backslashes do not end the string early.
    expect(scanJson(String.raw`{"a":"x\"[[[[","b":"\\"}`, 1)).toEqual({ ok: true });
    expect(scanJson(String.raw`{"a":"\\\"[[["}`, 1)).toEqual({ ok: true });
  });

  test('200,000 levels are refused without recursion', () => {
    expect(scanJson('['.repeat(200_000) + ']'.repeat(200_000), 64)).toMatchObject({ ok: false, reason: 'too_deep' });
  });

  test('finds numbers that are not finite, leaves finite ones and digits in strings alone', () => {
    expect(scanJson('{"a":1e400}', 64)).toEqual({ ok: false, reason: 'non_finite', token: '1e400' });
    expect(scanJson('[-1E+999]', 64)).toMatchObject({ reason: 'non_finite' });
    expect(scanJson(`[${'9'.repeat(400)}]`, 64)).toMatchObject({ reason: 'non_finite' });
    expect(scanJson('[1.7976931348623157e308, -5e-324, 0, 12.5e3]', 64)).toEqual({ ok: true });
    expect(scanJson('{"a":"1e400"}', 64)).toEqual({ ok: true });
    expect(scanJson(`{"a":${'9'.repeat(300)}}`, 64)).toEqual({ ok: true });
  });
});

describe('parseJsonText', () => {
  /** The problem the api answers with for what parseJsonText throws. */
  const problemOf = (text: string, maxDepth: number) => {
    try {
      parseJsonText(text, maxDepth);
    } catch (e) {
      return toProblem(e);
    }
    throw new Error(`${text} parsed`);
  };
  test('valid JSON parses; errors carry their problem codes', () => {
    expect(parseJsonText('{"a":[1,2]}', 64)).toEqual({ a: [1, 2] });
    expect(problemOf('{"a":', 64)).toMatchObject({ type: '/problems/malformed-json', status: 400 });
    expect(problemOf('[[[]]]', 2)).toMatchObject({ type: '/problems/too-deep', status: 400 });
    expect(problemOf('[1e999]', 64)).toMatchObject({ type: '/problems/validation', status: 400 });
  });
});
