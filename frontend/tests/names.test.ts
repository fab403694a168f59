import { describe, expect, it } from 'vitest'
import { aggregateKind, entityLabel, firstName, idHint, isBareIdPrefix, kindNoun, matchesSearch, nameIndex } from '@/utils/names'

const ID = '01a22a2a-7b3c-7d00-8e11-0123456789ab'

describe('names instead of ids', () => {
  it('shows the name when there is one', () => {
    expect(entityLabel('reporting-batch', ID, 'api_key')).toBe('reporting-batch')
    expect(entityLabel('  Acme  ', ID, 'organization')).toBe('  Acme  '.trim())
  })

  it('falls back to "deleted key · 01a2…" when the name is unknown', () => {
    expect(entityLabel(null, ID, 'api_key')).toBe('deleted key · 01a2…')
    expect(entityLabel(undefined, ID, 'organization')).toBe('deleted organization · 01a2…')
    expect(entityLabel('   ', ID, 'webhook')).toBe('deleted webhook · 01a2…')
    expect(entityLabel(null, null, 'operator')).toBe('—')
  })

  it('never falls back to a bare 8-hex prefix', () => {
    expect(isBareIdPrefix(entityLabel(null, ID, 'api_key'))).toBe(false)
    expect(isBareIdPrefix('01a22a2a')).toBe(true)
    expect(isBareIdPrefix('deadbeef-key')).toBe(false)
  })

  it('hints an id by its first four characters', () => {
    expect(idHint(ID)).toBe('01a2…')
    expect(idHint('abc')).toBe('abc')
    expect(idHint(null)).toBe('')
  })

  it('indexes lists by id and picks the first known name', () => {
    const idx = nameIndex([{ id: 'a', name: 'Alpha' }, { id: 'b', name: '' }])
    expect(idx.get('a')).toBe('Alpha')
    expect(idx.has('b')).toBe(false)
    const ops = nameIndex([{ id: 'o', username: 'alice' }], (o) => o.username)
    expect(ops.get('o')).toBe('alice')
    expect(firstName(null, '', 'from list')).toBe('from list')
    expect(firstName(undefined, null)).toBeNull()
  })

  it('maps audit aggregate types to kinds', () => {
    expect(aggregateKind('ApiKey')).toBe('api_key')
    expect(aggregateKind('WebhookEndpoint')).toBe('webhook')
    expect(aggregateKind('Login')).toBeNull()
    expect(kindNoun('api_key')).toBe('key')
  })

  it('searches names and ids case-insensitively', () => {
    expect(matchesSearch('BATCH', 'reporting-batch', ID)).toBe(true)
    expect(matchesSearch('gr-1a2b', 'web', 'gr-1a2b3c4d')).toBe(true)
    expect(matchesSearch('', 'x')).toBe(true)
    expect(matchesSearch('zzz', 'web', null)).toBe(false)
  })
})
