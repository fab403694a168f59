import { createApp } from 'vue'
import { createPinia } from 'pinia'
import '@arco-design/web-vue/dist/arco.css'
import './styles/main.css'
import App from './App.vue'
import { createAppRouter } from './router'
import { installArco } from './arco'
import { useAuthStore } from './stores/auth'
import { useThemeStore } from './stores/theme'
import { useOrgsStore } from './stores/orgs'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
installArco(app)

const auth = useAuthStore()
auth.install()
useThemeStore()

const router = createAppRouter()
auth.onSessionEnd(() => {
  useOrgsStore().reset()
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    const redirect = current.fullPath && current.fullPath !== '/' ? current.fullPath : undefined
    router.replace({ name: 'login', query: redirect ? { redirect } : {} })
  }
})
app.use(router)
app.mount('#app')
