// scanJson / parseJsonText: pure, no HTTP (issue 10 items 6 and 8).
import { parseJsonText, scanJson } from './json-body.js';

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
  test('valid JSON parses; errors carry their problem codes', () => {
    expect(parseJsonText('{"a":[1,2]}', 64)).toEqual({ a: [1, 2] });
    expect(() => parseJsonText('{"a":', 64)).toThrow(expect.objectContaining({ code: 'malformed_json', httpStatus: 400 }));
    expect(() => parseJsonText('[[[]]]', 2)).toThrow(expect.objectContaining({ code: 'too_deep', httpStatus: 400 }));
    expect(() => parseJsonText('[1e999]', 64)).toThrow(expect.objectContaining({ code: 'validation', httpStatus: 400 }));
  });
});
