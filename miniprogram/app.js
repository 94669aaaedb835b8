const api = require('./utils/api')

App({
  onLaunch() {
    // Sign in on first open so the first page's requests already carry a token; a failure here
    // is retried by the first request that needs one.
    if (!api.hasToken()) api.login().catch(() => {})
  },
})
