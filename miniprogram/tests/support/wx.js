// The wx the pages see in tests: network calls go to a real examdesk, wx.requestPayment checks
// the paySign as WeChat would and pays through the simulator's pay route, and the rest (storage,
// navigation, file pickers) is recorded so a test can look at what the candidate was shown.
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// The published test merchant demo mode plays (src/demo.rs); not a secret.
const DEMO_APPID = 'wxd930ea5d5a258f4f'
const DEMO_API_KEY = '192006250b4c09247ec02edce69f6a2d'
const PAY_KEYS = ['nonceStr', 'package', 'paySign', 'signType', 'timeStamp']

function paySign(args) {
  const fields = { appId: DEMO_APPID, nonceStr: args.nonceStr, package: args.package, signType: args.signType, timeStamp: args.timeStamp }
  const text = Object.keys(fields).sort().map((k) => k + '=' + fields[k]).join('&') + '&key=' + DEMO_API_KEY
  const digest = args.signType === 'HMAC-SHA256'
    ? crypto.createHmac('sha256', DEMO_API_KEY).update(text, 'utf8')
    : crypto.createHash('md5').update(text, 'utf8')
  return digest.digest('hex').toUpperCase()
}

const call = (o, name, arg) => {
  if (typeof o[name] === 'function') o[name](arg)
  if (typeof o.complete === 'function') o.complete(arg)
}

function standIn(server, candidate) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-files-'))
  let downloads = 0
  const storage = new Map()
  const wx = {
    // What the test sets: the next payment's outcome and the photo the candidate picks.
    payMode: 'pay',
    photo: null,
    // What the test reads.
    requests: [],
    navigations: [],
    documents: [],
    payments: [],
    logins: 0,
    storage,

    login(o) {
      wx.logins++
      // A fresh code each time, but the same WeChat user: the simulator's openid follows the code.
      setImmediate(() => call(o, 'success', { code: 'mp-' + candidate, errMsg: 'login:ok' }))
    },
    getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
    setStorageSync: (k, v) => storage.set(k, v),
    removeStorageSync: (k) => storage.delete(k),

    request(o) {
      const method = (o.method || 'GET').toUpperCase()
      wx.requests.push(method + ' ' + o.url.replace(server.url, ''))
      const headers = Object.assign({}, o.header)
      let body
      if (o.data !== undefined && method !== 'GET') {
        headers['Content-Type'] = 'application/json'
        body = JSON.stringify(o.data)
      }
      fetch(o.url, { method, headers, body })
        .then(async (res) => {
          const text = await res.text()
          let data = text
          try {
            data = JSON.parse(text)
          } catch (e) {
            // wx.request leaves a body that is not JSON as a string
          }
          call(o, 'success', { statusCode: res.status, data, header: Object.fromEntries(res.headers) })
        })
        .catch((e) => call(o, 'fail', { errMsg: 'request:fail ' + e.message }))
    },

    uploadFile(o) {
      wx.requests.push('UPLOAD ' + o.url.replace(server.url, ''))
      const form = new FormData()
      for (const [k, v] of Object.entries(o.formData || {})) form.append(k, v)
      // Phones label the part application/octet-stream; the server must look at the bytes.
      form.append(o.name, new Blob([fs.readFileSync(o.filePath)]), path.basename(o.filePath))
      fetch(o.url, { method: 'POST', headers: o.header, body: form })
        .then(async (res) => call(o, 'success', { statusCode: res.status, data: await res.text() }))
        .catch((e) => call(o, 'fail', { errMsg: 'uploadFile:fail ' + e.message }))
    },

    downloadFile(o) {
      wx.requests.push('DOWNLOAD ' + o.url.replace(server.url, ''))
      fetch(o.url, { headers: o.header })
        .then(async (res) => {
          const tempFilePath = path.join(tmp, 'download-' + ++downloads)
          fs.writeFileSync(tempFilePath, Buffer.from(await res.arrayBuffer()))
          call(o, 'success', { statusCode: res.status, tempFilePath })
        })
        .catch((e) => call(o, 'fail', { errMsg: 'downloadFile:fail ' + e.message }))
    },

    getFileSystemManager: () => ({ readFileSync: (p, enc) => fs.readFileSync(p, enc) }),

    requestPayment(o) {
      const args = Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v !== 'function'))
      wx.payments.push(args)
      const fail = (errMsg) => setImmediate(() => call(o, 'fail', { errMsg }))
      if (JSON.stringify(Object.keys(args).sort()) !== JSON.stringify(PAY_KEYS)) {
        return fail('requestPayment:fail parameter error: ' + Object.keys(args).join(','))
      }
      if (args.paySign !== paySign(args)) return fail('requestPayment:fail sign error')
      if (wx.payMode === 'cancel') return fail('requestPayment:fail cancel')
      const prepayId = args.package.replace(/^prepay_id=/, '')
      fetch(server.url + '/_sim/pay/' + encodeURIComponent(prepayId), { method: 'POST' })
        .then((res) => (res.ok ? call(o, 'success', { errMsg: 'requestPayment:ok' }) : fail('requestPayment:fail ' + res.status)))
        .catch((e) => fail('requestPayment:fail ' + e.message))
    },

    chooseMedia(o) {
      if (!wx.photo) return setImmediate(() => call(o, 'fail', { errMsg: 'chooseMedia:fail cancel' }))
      const size = fs.statSync(wx.photo).size
      setImmediate(() => call(o, 'success', { type: 'image', tempFiles: [{ tempFilePath: wx.photo, size, fileType: 'image' }] }))
    },
    openDocument(o) {
      wx.documents.push({ filePath: o.filePath, fileType: o.fileType, showMenu: o.showMenu })
      setImmediate(() => call(o, 'success', { errMsg: 'openDocument:ok' }))
    },
    showModal(o) {
      setImmediate(() => call(o, 'success', { confirm: true, cancel: false }))
    },
    navigateTo: (o) => wx.navigations.push(o.url),
    redirectTo: (o) => wx.navigations.push(o.url),
    switchTab: (o) => wx.navigations.push(o.url),
    stopPullDownRefresh() {},
    showToast() {},
  }
  return wx
}

module.exports = { standIn, tmpDir: () => fs.mkdtempSync(path.join(os.tmpdir(), 'wx-photos-')) }
