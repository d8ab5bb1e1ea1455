import {
  clean,
  CIRCULAR,
  DEFAULT_DROP,
  DEFAULT_REDACT,
  luhnValid,
  MAX_DEPTH,
  normalizeFieldName,
  REDACTED,
  redactSensitiveText,
  TRUNCATED,
} from './clean.js';

const none = { drop: [], redact: [] };

describe('clean: trimming', () => {
  it('trims every string, in objects and arrays, at any depth, Unicode spaces included', () => {
    const input = {
      name: '  Ada  ',
      tags: [' a ', ['\t b\n', { deep: '\u00a0c\u3000' }]],
      nested: { city: ' Zürich ', emoji: ' 🙂 ', cjk: '\u3000東京\u3000' },
    };
    expect(clean(input, none)).toEqual({
      name: 'Ada',
      tags: ['a', ['b', { deep: 'c' }]],
      nested: { city: 'Zürich', emoji: '🙂', cjk: '東京' },
    });
  });

  it('preserves numbers, booleans and null, and a bare string or array at the top', () => {
    expect(clean({ n: 0, f: -1.5, t: true, no: false, z: null, big: 4111111111111111 }, none)).toEqual({
      n: 0, f: -1.5, t: true, no: false, z: null, big: 4111111111111111,
    });
    expect(clean('  x ', none)).toBe('x');
    expect(clean([' a ', 1, null], none)).toEqual(['a', 1, null]);
    expect(clean(null, none)).toBeNull();
  });

  it('does not mutate its input and returns new objects', () => {
    const input = { a: ' x ', password: 'p', list: [{ b: ' y ' }] };
    const snapshot = structuredClone(input);
    const out = clean(input, none) as typeof input;
    expect(input).toEqual(snapshot);
    expect(out).not.toBe(input);
    expect(out.list).not.toBe(input.list);
    expect(out.list[0]).not.toBe(input.list[0]);
  });
});

describe('clean: rules by field name', () => {
  it('normalises names: case-insensitive, ignoring _ - . and spaces', () => {
    expect(normalizeFieldName(' Card_Number ')).toBe('cardnumber');
    expect(normalizeFieldName('card-number')).toBe('cardnumber');
    expect(normalizeFieldName('CARD.NUMBER')).toBe('cardnumber');
  });

  it('applies the safe defaults at any depth and inside arrays', () => {
    const input = {
      user: {
        name: 'Ada',
        Password: 'hunter2',
        profile: { SSN: '123-45-6789', cardNumber: '4111111111111111', CVV: '123' },
      },
      accounts: [
        { id: 1, access_token: 'tok', 'api-key': 'k', credit_card: { number: '5555555555554444' } },
        [{ client_secret: 's', newPassword: 'n', webhookSecret: 'w', bearerToken: 'b' }],
      ],
    };
    expect(clean(input, none)).toEqual({
      user: { name: 'Ada', profile: { SSN: REDACTED, cardNumber: REDACTED } },
      accounts: [{ id: 1, credit_card: REDACTED }, [{}]],
    });
  });

  it('adds the vendor rules to the defaults; drop wins over redact', () => {
    const rules = { drop: ['internal_notes', 'Both'], redact: ['e-mail', 'both', 'phone'] };
    const input = {
      email: 'a@b.c',
      E_Mail: 'x@y.z',
      internalNotes: { anything: 1 },
      both: 'x',
      list: [{ PHONE: 12345 }, { phone: { country: '+41' } }],
      password: 'still dropped',
    };
    expect(clean(input, rules)).toEqual({
      email: REDACTED,
      E_Mail: REDACTED,
      list: [{ PHONE: REDACTED }, { phone: REDACTED }],
    });
  });

  it('supports suffix rules with a leading *', () => {
    expect(clean({ homeAddress: 'x', address: 'y', addr: 'z' }, { drop: ['*address'], redact: [] })).toEqual({ addr: 'z' });
  });

  it('does not catch innocent look-alikes of the defaults', () => {
    const input = { company: 'ACME', tokens_used: 3, span: 2, passwordPolicy: 'strong', description: ' ok ' };
    expect(clean(input, none)).toEqual({ company: 'ACME', tokens_used: 3, span: 2, passwordPolicy: 'strong', description: 'ok' });
  });

  it('documents its defaults as frozen lists with credentials dropped and PII redacted', () => {
    expect(Object.isFrozen(DEFAULT_DROP)).toBe(true);
    expect(DEFAULT_DROP).toEqual(expect.arrayContaining(['password', 'secret', 'token', 'api_key', 'cvv']));
    expect(DEFAULT_REDACT).toEqual(expect.arrayContaining(['ssn', 'card_number', 'pan']));
  });
});

describe('clean: values that look sensitive under innocent names', () => {
  it('checks Luhn', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('378282246310005')).toBe(true);
  });

  it('redacts card numbers (13–19 digits, grouped or not, Luhn-valid) inside any string', () => {
    const input = {
      note: ' paid with 4111 1111 1111 1111, thanks ',
      ref: '5555-5555-5555-4444',
      amex: '378282246310005',
      items: [{ memo: 'card:6011111111111117' }],
    };
    expect(clean(input, none)).toEqual({
      note: `paid with ${REDACTED}, thanks`,
      ref: REDACTED,
      amex: REDACTED,
      items: [{ memo: `card:${REDACTED}` }],
    });
  });

  it('leaves digit runs that fail Luhn or have the wrong length', () => {
    expect(redactSensitiveText('order 4111111111111112')).toBe('order 4111111111111112');
    expect(redactSensitiveText('short 411111111111')).toBe('short 411111111111');
    expect(redactSensitiveText('phone +1 555 123 4567')).toBe('phone +1 555 123 4567');
    expect(redactSensitiveText('date 2024-01-15')).toBe('date 2024-01-15');
    // 20 digits: no 13–19 digit run stands alone.
    expect(redactSensitiveText('41111111111111111111')).toBe('41111111111111111111');
  });

  it('redacts SSNs (ddd-dd-dddd) but not longer dash chains', () => {
    expect(clean({ free_text: 'SSN 123-45-6789.', list: ['987-65-4321'] }, none)).toEqual({
      free_text: `SSN ${REDACTED}.`,
      list: [REDACTED],
    });
    expect(redactSensitiveText('id 1123-45-6789')).toBe('id 1123-45-6789');
    expect(redactSensitiveText('id 123-45-67890')).toBe('id 123-45-67890');
    expect(redactSensitiveText('id 9-123-45-6789')).toBe('id 9-123-45-6789');
  });

  it('does not scan numbers (they are preserved)', () => {
    expect(clean({ amount: 4111111111111111 }, none)).toEqual({ amount: 4111111111111111 });
  });
});

describe('clean: hostile shapes', () => {
  it('replaces cycles and keeps shared (acyclic) objects', () => {
    const a: Record<string, unknown> = { name: ' a ' };
    a.self = a;
    const shared = { v: ' s ' };
    const out = clean({ a, list: [a], x: shared, y: shared }, none);
    expect(out).toEqual({
      a: { name: 'a', self: CIRCULAR },
      list: [{ name: 'a', self: CIRCULAR }],
      x: { v: 's' },
      y: { v: 's' },
    });
  });

  it('truncates below MAX_DEPTH without overflowing the stack, even for 100 000 levels', () => {
    let deep: unknown = { secret: 'x', leaf: '4111111111111111' };
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? { next: deep } : [deep];
    let out = clean(deep, none);
    let levels = 0;
    while (out !== TRUNCATED) {
      out = Array.isArray(out) ? out[0] : (out as { next: unknown }).next;
      levels++;
      expect(levels).toBeLessThanOrEqual(MAX_DEPTH);
    }
    expect(levels).toBe(MAX_DEPTH);
  });

  it('keeps __proto__ keys as plain data', () => {
    const input = JSON.parse('{"__proto__": {"polluted": " yes "}, "a": 1}') as object;
    const out = clean(input, none) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: 'yes' });
  });

  it('turns dates into ISO strings and drops functions', () => {
    const out = clean({ at: new Date(0), fn: () => 1, n: 1 }, none);
    expect(out).toEqual({ at: '1970-01-01T00:00:00.000Z', n: 1 });
  });
});
