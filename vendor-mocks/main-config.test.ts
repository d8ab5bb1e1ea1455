import { parseMainConfig } from './main-config.js';
import { DEFAULT_WEBHOOK_SECRET } from './signing.js';

describe('vendor-mocks main configuration', () => {
  it('defaults: both mocks, :9101 and :9102, the api webhook URL and the dev secret', () => {
    const r = parseMainConfig({}, []);
    expect(r).toEqual({
      ok: true,
      config: {
        only: 'both',
        host: '127.0.0.1',
        syncPort: 9101,
        asyncPort: 9102,
        webhookUrl: 'http://127.0.0.1:8080/vendor-webhook/async',
        webhookSecret: DEFAULT_WEBHOOK_SECRET,
        syncKnobs: {},
        asyncKnobs: {},
      },
    });
  });

  it('environment, with flags winning over it', () => {
    const r = parseMainConfig(
      { SYNC_MOCK_PORT: '7001', ASYNC_MOCK_PORT: '7002', SYNC_MOCK_KNOBS: '{"latencyMs":20}', MOCKS_ONLY: 'sync' },
      ['--sync-port', '0', '--async-knobs', '{"duplicate":true}'],
    );
    expect(r.ok && r.config).toMatchObject({ only: 'sync', syncPort: 0, asyncPort: 7002, syncKnobs: { latencyMs: 20 }, asyncKnobs: { duplicate: true } });
  });

  it('lists every problem', () => {
    const r = parseMainConfig({ SYNC_MOCK_PORT: 'x' }, ['--async-knobs', '[1]', '--webhook-url', 'nope']);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.join('\n')).toMatch(/syncPort/);
      expect(r.problems.join('\n')).toMatch(/asyncKnobs/);
      expect(r.problems.join('\n')).toMatch(/webhookUrl/);
    }
    expect(parseMainConfig({}, ['--bogus']).ok).toBe(false);
  });
});
