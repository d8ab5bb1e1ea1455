// The api's environment, parsed once: defaults, values, and every problem reported together.
import { clientIdOfApiKey } from '../core/callback-policy.js';
import { parseApiConfig } from './config.js';

describe('parseApiConfig', () => {
  test('defaults', () => {
    const r = parseApiConfig({});
    expect(r.ok && r.config).toMatchObject({
      PORT: 8080,
      REDIS_URL: 'redis://127.0.0.1:6379',
      VF_SQLITE_PATH: '.data/vendorfetch.db',
      VF_BODY_LIMIT: '256kb',
      VF_API_KEYS: [],
      VF_ADMIN_API_KEYS: [],
      VF_PENDING_TIMEOUT_SECONDS: 600,
      LOG_LEVEL: 'info',
      API_METRICS_PORT: 8083,
      VF_WEBHOOK_RATE_LIMIT: 1000,
      VF_MAX_JSON_DEPTH: 64,
    });
    expect(r.ok && r.config.MONGODB_URL).toBeUndefined();
    expect(r.ok && r.config.VF_CLIENT_RATE_LIMIT).toBeUndefined();
  });
  test('values, and empty variables count as unset', () => {
    const r = parseApiConfig({ PORT: '9000', VF_API_KEYS: ' a, b ,', VF_CLIENT_RATE_LIMIT: '50', MONGODB_URL: '', VF_DEFAULT_VENDOR: 'sync' });
    expect(r.ok && r.config).toMatchObject({ PORT: 9000, VF_API_KEYS: ['a', 'b'], VF_CLIENT_RATE_LIMIT: 50, VF_DEFAULT_VENDOR: 'sync' });
    expect(r.ok && r.config.MONGODB_URL).toBeUndefined();
  });
  test('every problem at once', () => {
    const r = parseApiConfig({ PORT: 'eighty', REDIS_URL: 'http://x', VF_BODY_LIMIT: 'lots', LOG_LEVEL: 'loud', VF_CLIENT_RATE_LIMIT: '0' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.map((p) => p.split(':')[0])).toEqual(['PORT', 'REDIS_URL', 'VF_BODY_LIMIT', 'VF_CLIENT_RATE_LIMIT', 'LOG_LEVEL']);
    }
  });
  test('admin keys are their own list, and may not repeat a client key (the key is never printed)', () => {
    const r = parseApiConfig({ VF_API_KEYS: 'client-1', VF_ADMIN_API_KEYS: ' admin-1 , admin-2 ' });
    expect(r.ok && r.config.VF_ADMIN_API_KEYS).toEqual(['admin-1', 'admin-2']);
    const shared = parseApiConfig({ VF_API_KEYS: 'client-1,same-secret', VF_ADMIN_API_KEYS: 'same-secret' });
    expect(shared.ok).toBe(false);
    if (!shared.ok) {
      expect(shared.problems).toHaveLength(1);
      expect(shared.problems[0]).toMatch(/^VF_ADMIN_API_KEYS:/);
      expect(shared.problems.join('\n')).not.toContain('same-secret');
    }
  });

  test('VF_CALLBACK_CLIENTS: parsed by client id; an entry for a key not in VF_API_KEYS, or a bad one, fails start-up without printing secrets', () => {
    const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
    const entry = (apiKey: string | undefined) => ({ ...(apiKey ? { apiKey } : {}), secret, allow: ['hooks.example.com'] });
    const r = parseApiConfig({ VF_API_KEYS: 'client-1', VF_CALLBACK_CLIENTS: JSON.stringify([entry('client-1')]) });
    expect(r.ok && [...r.config.VF_CALLBACK_CLIENTS.keys()]).toEqual([clientIdOfApiKey('client-1')]);
    const unset = parseApiConfig({});
    expect(unset.ok && unset.config.VF_CALLBACK_CLIENTS.size).toBe(0);
    for (const env of [
      { VF_API_KEYS: 'client-1', VF_CALLBACK_CLIENTS: JSON.stringify([entry('client-2')]) },
      { VF_API_KEYS: 'client-1', VF_CALLBACK_CLIENTS: JSON.stringify([entry(undefined)]) },
      { VF_CALLBACK_CLIENTS: JSON.stringify([{ ...entry(undefined), allow: ['no good!'] }]) },
    ]) {
      const bad = parseApiConfig(env);
      expect(bad.ok).toBe(false);
      if (!bad.ok) {
        expect(bad.problems[0]).toMatch(/^VF_CALLBACK_CLIENTS/);
        expect(bad.problems.join('\n')).not.toContain(secret);
        expect(bad.problems.join('\n')).not.toContain('client-2');
      }
    }
  });
});
