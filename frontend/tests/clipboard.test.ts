import { afterEach, describe, expect, it, vi } from 'vitest'
import { copyText } from '@/utils/clipboard'

describe('copyText', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('uses the Clipboard API where it may', async () => {
    const writeText = vi.fn().mockResolvedValue(undefined)
    vi.stubGlobal('navigator', { clipboard: { writeText } })
    await copyText('gr-abc')
    expect(writeText).toHaveBeenCalledWith('gr-abc')
  })

  it('falls back to a selection copy when the API is refused, leaving nothing behind', async () => {
    vi.stubGlobal('navigator', { clipboard: { writeText: vi.fn().mockRejectedValue(new Error('denied')) } })
    const exec = vi.fn().mockReturnValue(true)
    Object.defineProperty(document, 'execCommand', { value: exec, configurable: true })
    await copyText('secret')
    expect(exec).toHaveBeenCalledWith('copy')
    expect(document.querySelectorAll('textarea').length).toBe(0)
  })
})
