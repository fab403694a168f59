import { defineStore } from 'pinia'
import { ref, watch } from 'vue'

export type Theme = 'light' | 'dark'
const KEY = 'gr.theme'

function initial(): Theme {
  const saved = localStorage.getItem(KEY)
  if (saved === 'light' || saved === 'dark') return saved
  return typeof window !== 'undefined' && window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

export function applyTheme(theme: Theme) {
  if (theme === 'dark') {
    document.body.setAttribute('arco-theme', 'dark')
    document.documentElement.setAttribute('data-theme', 'dark')
  } else {
    document.body.removeAttribute('arco-theme')
    document.documentElement.removeAttribute('data-theme')
  }
}

export const useThemeStore = defineStore('theme', () => {
  const theme = ref<Theme>(initial())
  applyTheme(theme.value)
  watch(theme, (t) => {
    localStorage.setItem(KEY, t)
    applyTheme(t)
  })
  function toggle() {
    theme.value = theme.value === 'dark' ? 'light' : 'dark'
  }
  function set(t: Theme) {
    theme.value = t
  }
  return { theme, toggle, set }
})
