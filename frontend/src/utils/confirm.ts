// Confirmation dialogs. Arco's imperative dialogs (Modal.warning/error) are mounted
// outside the app, so they do not get the ConfigProvider's locale: their Cancel button
// read "取消". Every confirmation goes through here, with its buttons in English.
import { Modal, type ModalConfig } from '@arco-design/web-vue'

const ENGLISH = { hideCancel: false, cancelText: 'Cancel' } as const

/** A change that can be undone (suspend, rotate, disable). */
export function confirmWarning(config: ModalConfig) {
  return Modal.warning({ ...ENGLISH, ...config })
}

/** A change that cannot be undone (delete, revoke): the OK button is red. */
export function confirmDanger(config: ModalConfig) {
  return Modal.error({ ...ENGLISH, okButtonProps: { status: 'danger' }, ...config })
}
