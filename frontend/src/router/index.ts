import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    title?: string
    public?: boolean
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { title: 'Sign in', public: true } },
  {
    path: '/',
    component: () => import('@/layouts/AppLayout.vue'),
    children: [
      { path: '', redirect: { name: 'overview' } },
      { path: 'overview', name: 'overview', component: () => import('@/views/OverviewView.vue'), meta: { title: 'Overview' } },
      { path: 'organizations', name: 'organizations', component: () => import('@/views/OrganizationsView.vue'), meta: { title: 'Organizations' } },
      { path: 'organizations/:id', name: 'organization', component: () => import('@/views/OrganizationDetailView.vue'), meta: { title: 'Organization' } },
      { path: 'api-keys', name: 'api-keys', component: () => import('@/views/ApiKeysView.vue'), meta: { title: 'API keys' } },
      { path: 'api-keys/:id', name: 'api-key', component: () => import('@/views/ApiKeyDetailView.vue'), meta: { title: 'API key' } },
      { path: 'logs', name: 'logs', component: () => import('@/views/LogsView.vue'), meta: { title: 'Request log' } },
      { path: 'audit', name: 'audit', component: () => import('@/views/AuditView.vue'), meta: { title: 'Audit log' } },
      { path: 'models', name: 'models', component: () => import('@/views/ModelsView.vue'), meta: { title: 'Models' } },
      { path: 'playground', name: 'playground', component: () => import('@/views/PlaygroundView.vue'), meta: { title: 'Playground' } },
      { path: 'routes', name: 'routes', component: () => import('@/views/RoutesView.vue'), meta: { title: 'Routes' } },
      { path: 'webhooks', name: 'webhooks', component: () => import('@/views/WebhooksView.vue'), meta: { title: 'Webhooks' } },
      { path: 'operators', name: 'operators', component: () => import('@/views/OperatorsView.vue'), meta: { title: 'Operators' } },
      { path: 'projections', name: 'projections', component: () => import('@/views/ProjectionsView.vue'), meta: { title: 'Projections' } },
      { path: ':pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue'), meta: { title: 'Not found' } },
    ],
  },
]

export function createAppRouter() {
  const router = createRouter({ history: createWebHistory(), routes })
  router.beforeEach(async (to) => {
    const auth = useAuthStore()
    if (to.meta.public) {
      if (to.name === 'login' && auth.isAuthenticated) return { name: 'overview' }
      return true
    }
    if (!auth.isAuthenticated) {
      if (auth.token && auth.isExpired()) auth.endSession('expired')
      return { name: 'login', query: to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
    }
    if (!auth.me) {
      try {
        await auth.loadMe()
      } catch {
        // A 401 already ended the session; any other failure: let the page show its error.
        if (!auth.isAuthenticated) return { name: 'login', query: { redirect: to.fullPath } }
      }
    }
    return true
  })
  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} · GaiaRouter` : 'GaiaRouter'
  })
  return router
}
