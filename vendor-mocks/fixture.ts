// What a (badly behaved) vendor answers: padded strings and PII at several depths and inside
// arrays, so the product's cleaning has something real to do. Tests import SENSITIVE_VALUES to
// prove none of it survives into a stored result.

/** Every sensitive value the fixture contains; none of them may appear in a cleaned result. */
export const SENSITIVE_VALUES = [
  'hunter2-S3cret!', // password
  '078-05-1120', // ssn
  '219-09-9999', // ssn (nested in an array)
  '4111 1111 1111 1111', // card_number
  '5500-0000-0000-0004', // card_number (credit_card_number)
  'sk_live_9f8e7d6c5b4a', // api_secret
  'tok_a1b2c3d4e5f6', // token
  'eyJhbGciOiJIUzI1NiJ9.mock.sig', // access_token
  'refresh-xyz-0987', // refresh_token
  'client-secret-42', // client_secret
] as const;

/** Sensitive field names used in the fixture (lower-case, as they appear). */
export const SENSITIVE_FIELDS = [
  'password',
  'ssn',
  'card_number',
  'credit_card_number',
  'api_secret',
  'token',
  'access_token',
  'refresh_token',
  'client_secret',
] as const;

/** The vendor's answer for one request; `echo` is the request body, returned as received. */
export function vendorData(echo: unknown, requestKey: string): Record<string, unknown> {
  return {
    request_key: requestKey,
    echo,
    status: '  ok  ',
    customer: {
      name: '  Ada Lovelace  ',
      email: '  ada.lovelace@example.com ',
      password: 'hunter2-S3cret!',
      ssn: '078-05-1120',
      address: {
        street: ' 12 Analytical Row ',
        city: '\tLondon ',
        geo: { lat: 51.5072, lng: -0.1276, label: '  home  ' },
      },
    },
    payment_methods: [
      { kind: ' card ', card_number: '4111 1111 1111 1111', expiry: ' 12/29', holder: ' Ada L. ' },
      { kind: 'card  ', credit_card_number: '5500-0000-0000-0004', expiry: '01/30 ' },
    ],
    dependents: [
      { name: ' Byron ', ssn: '219-09-9999', tags: ['  child', 'minor  '] },
      { name: 'Annabella  ', notes: [{ text: '  deep inside an array  ', token: 'tok_a1b2c3d4e5f6' }] },
    ],
    credentials: {
      api_secret: 'sk_live_9f8e7d6c5b4a',
      access_token: 'eyJhbGciOiJIUzI1NiJ9.mock.sig',
      refresh_token: 'refresh-xyz-0987',
      client_secret: 'client-secret-42',
      scopes: [' read ', ' write '],
    },
    score: 742,
    active: true,
    tags: ['  alpha', 'beta  ', '  gamma  '],
    nothing: null,
  };
}
