// A small cache of organization names for labels and pickers across pages.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { getOrganization, listAllOrganizations } from '@/api/endpoints'
import type { Organization } from '@/api/types'
import { entityLabel } from '@/utils/names'
import { useAuthStore } from './auth'

export const useOrgsStore = defineStore('orgs', () => {
  const list = ref<Organization[]>([])
  const loaded = ref(false)
  const unavailable = ref(false)
  let pending: Promise<void> | null = null

  async function load(force = false) {
    if (loaded.value && !force) return
    if (pending) return pending
    pending = (async () => {
      const auth = useAuthStore()
      try {
        if (auth.isAdmin || !auth.me?.organization_id) {
          list.value = await listAllOrganizations()
        } else {
          list.value = [await getOrganization(auth.me.organization_id)]
        }
        unavailable.value = false
      } catch {
        unavailable.value = true
        // Non-admins may still read their own organization.
        if (auth.me?.organization_id) {
          try {
            list.value = [await getOrganization(auth.me.organization_id)]
            unavailable.value = false
          } catch {
            list.value = []
          }
        }
      } finally {
        loaded.value = true
        pending = null
      }
    })()
    return pending
  }

  function name(id: string | null | undefined): string {
    if (!id) return '—'
    return entityLabel(list.value.find((o) => o.id === id)?.name, id, 'organization')
  }

  function upsert(org: Organization) {
    const i = list.value.findIndex((o) => o.id === org.id)
    if (i >= 0) list.value[i] = org
    else list.value.push(org)
  }

  function remove(id: string) {
    list.value = list.value.filter((o) => o.id !== id)
  }

  function reset() {
    list.value = []
    loaded.value = false
  }

  return { list, loaded, unavailable, load, name, upsert, remove, reset }
})
