// Applies the saved (or system) dark theme before the first paint. A file, not an
// inline script: the Content-Security-Policy allows scripts from this origin only.
try {
  var t = localStorage.getItem('gr.theme')
  if (t === 'dark' || (!t && window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches)) {
    document.documentElement.setAttribute('data-theme', 'dark')
    document.addEventListener('DOMContentLoaded', function () {
      document.body.setAttribute('arco-theme', 'dark')
    })
  }
} catch (e) {}
