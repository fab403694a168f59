import { ref } from 'vue'
import { Message } from '@arco-design/web-vue'
import { confirmDanger, confirmWarning } from '@/utils/confirm'
import { revokeApiKey, rotateApiKey } from '@/api/endpoints'
import { errorMessage } from '@/api/client'
import type { ApiKey } from '@/api/types'
import { keyring } from '@/utils/keyring'

/** Rotate / revoke with confirmation, and the one-time secret display state. */
export function useKeyActions(onChanged: (key: ApiKey | null, id: string) => void) {
  const secret = ref<string | null>(null)
  const secretTitle = ref('Your new API key')
  const secretName = ref<string | undefined>()

  function showSecret(key: string, title: string, name?: string) {
    secretTitle.value = title
    secretName.value = name
    secret.value = key
  }

  function rotate(k: ApiKey) {
    confirmWarning({
      title: `Rotate “${k.name}”?`,
      content: 'A new secret is issued and the current one stops working immediately. Update every client that uses it.',
      okText: 'Rotate secret',
      modalClass: 'confirm-rotate',
      onOk: async () => {
        try {
          const res = await rotateApiKey(k.id)
          const { key, ...rest } = res
          keyring.forgetPrefix(k.prefix)
          onChanged(rest as ApiKey, k.id)
          showSecret(key, 'New secret for this key', k.name)
        } catch (e) {
          Message.error(errorMessage(e))
        }
      },
    })
  }

  function revoke(k: ApiKey) {
    confirmDanger({
      title: `Revoke “${k.name}”?`,
      content: 'The key stops working immediately and cannot be re-enabled. Its usage and history are kept.',
      okText: 'Revoke key',
      modalClass: 'confirm-revoke',
      onOk: async () => {
        try {
          await revokeApiKey(k.id)
          keyring.forgetPrefix(k.prefix)
          onChanged({ ...k, status: 'revoked', revoked_at: new Date().toISOString() }, k.id)
          Message.success(`Revoked “${k.name}”`)
        } catch (e) {
          Message.error(errorMessage(e))
        }
      },
    })
  }

  return { secret, secretTitle, secretName, showSecret, rotate, revoke }
}
