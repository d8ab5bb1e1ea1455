// matchesFilter stands in for the server's filter on FerretDB v1 (version-claims.ts): it must
// agree with MongoDB on every form the store's compare-and-set filters use, and refuse others.
import { describe, expect, test } from '@jest/globals';
import { matchesFilter } from './version-claims.js';

const job = { _id: 'j1', vendor: 'acme', status: 'processing', attempts: 2, deadline_at: new Date(1000) };

describe('matchesFilter', () => {
  test('equality of strings, numbers and dates', () => {
    expect(matchesFilter(job, { _id: 'j1', status: 'processing', attempts: 2 })).toBe(true);
    expect(matchesFilter(job, { _id: 'j1', status: 'pending' })).toBe(false);
    expect(matchesFilter(job, { attempts: 3 })).toBe(false);
    expect(matchesFilter(job, { attempts: '2' })).toBe(false);
    expect(matchesFilter(job, { deadline_at: new Date(1000) })).toBe(true);
    expect(matchesFilter(job, { deadline_at: new Date(1001) })).toBe(false);
  });

  test('a field the document lacks matches no value', () => {
    expect(matchesFilter(job, { replayed_attempts: 0 })).toBe(false);
  });

  test('$in, $gte and $exists', () => {
    expect(matchesFilter(job, { status: { $in: ['pending', 'processing'] } })).toBe(true);
    expect(matchesFilter(job, { status: { $in: ['complete', 'failed'] } })).toBe(false);
    expect(matchesFilter(job, { attempts: { $gte: 1 } })).toBe(true);
    expect(matchesFilter(job, { attempts: { $gte: 3 } })).toBe(false);
    expect(matchesFilter({ ...job, attempts: undefined }, { attempts: { $gte: 0 } })).toBe(false);
    expect(matchesFilter(job, { v: { $exists: false } })).toBe(true);
    expect(matchesFilter(job, { v: { $exists: true } })).toBe(false);
  });

  test('$lte on dates and numbers (the callback sender\'s lease: callback_next_at <= now)', () => {
    expect(matchesFilter(job, { deadline_at: { $lte: new Date(1000) } })).toBe(true);
    expect(matchesFilter(job, { deadline_at: { $lte: new Date(999) } })).toBe(false);
    expect(matchesFilter(job, { attempts: { $lte: 2 } })).toBe(true);
    expect(matchesFilter(job, { attempts: { $lte: 1 } })).toBe(false);
    expect(matchesFilter(job, { callback_next_at: { $lte: new Date(5000) } })).toBe(false);
    expect(matchesFilter(job, { deadline_at: { $lte: 5000 } })).toBe(false);
  });

  test('every condition must hold', () => {
    expect(matchesFilter(job, { status: { $in: ['processing'] }, attempts: 1 })).toBe(false);
    expect(matchesFilter(job, {})).toBe(true);
  });

  test('an operator it does not know is refused, not guessed', () => {
    expect(() => matchesFilter(job, { attempts: { $lt: 5 } })).toThrow(/\$lt is not supported/);
  });
});
