import { describe, expect, it, vi } from 'vitest'

const warning = vi.fn()
const error = vi.fn()
vi.mock('@arco-design/web-vue', () => ({ Modal: { warning, error } }))

const { confirmDanger, confirmWarning } = await import('@/utils/confirm')

describe('confirmation dialogs', () => {
  it('show an English Cancel button (imperative dialogs miss the app locale)', () => {
    confirmWarning({ title: 'Suspend?', content: 'x' })
    expect(warning).toHaveBeenCalledWith(expect.objectContaining({ cancelText: 'Cancel', hideCancel: false, title: 'Suspend?' }))
  })

  it('make the OK button of an irreversible action red, unless told otherwise', () => {
    confirmDanger({ title: 'Delete?', content: 'x' })
    expect(error).toHaveBeenCalledWith(expect.objectContaining({ cancelText: 'Cancel', okButtonProps: { status: 'danger' } }))
    confirmDanger({ title: 'Revoke?', content: 'x', okButtonProps: { status: 'warning' } })
    expect(error).toHaveBeenLastCalledWith(expect.objectContaining({ okButtonProps: { status: 'warning' } }))
  })
})
