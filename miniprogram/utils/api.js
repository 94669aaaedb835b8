// The one way pages talk to examdesk: base URL from config.js, the bearer token kept in storage
// and renewed on 401, and the server's {"error": {code, message}} turned into an ApiError whose
// message is what the candidate reads.
const config = require('../config')

const TOKEN_KEY = 'examdesk_token'

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message)
    this.status = status
    this.code = code
    this.field = field || ''
  }
}

const networkError = () => new ApiError(0, 'network', '网络连接失败，请检查网络后重试')

function fromAnswer(status, body) {
  let parsed = body
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body)
    } catch (e) {
      parsed = null
    }
  }
  const error = parsed && parsed.error
  if (error && error.message) return new ApiError(status, error.code, error.message, error.field)
  return new ApiError(status, 'http_' + status, '服务暂时不可用（' + status + '），请稍后重试')
}

const url = (path) => config.baseUrl.replace(/\/+$/, '') + path

function hasToken() {
  return !!wx.getStorageSync(TOKEN_KEY)
}

function authHeader() {
  return { Authorization: 'Bearer ' + wx.getStorageSync(TOKEN_KEY) }
}

let signingIn = null

// One sign-in at a time: pages that start together share it.
function login() {
  if (signingIn) return signingIn
  signingIn = new Promise((resolve, reject) => {
    wx.login({
      success: ({ code }) => {
        wx.request({
          url: url('/api/v1/login'),
          method: 'POST',
          data: { code },
          success: (res) => {
            if (res.statusCode === 200 && res.data && res.data.token) {
              wx.setStorageSync(TOKEN_KEY, res.data.token)
              resolve(res.data.token)
            } else {
              reject(fromAnswer(res.statusCode, res.data))
            }
          },
          fail: () => reject(networkError()),
        })
      },
      fail: () => reject(new ApiError(0, 'wx_login', '微信登录失败，请稍后重试')),
    })
  })
  const done = () => {
    signingIn = null
  }
  signingIn.then(done, done)
  return signingIn
}

// Runs send(resolve, reject) with a token; on a 401 signs in again once and repeats it.
async function withToken(send) {
  if (!hasToken()) await login()
  const first = await new Promise(send)
  if (first.statusCode !== 401) return first
  wx.removeStorageSync(TOKEN_KEY)
  await login()
  return new Promise(send)
}

// One authenticated wx network call (wx.request, wx.uploadFile or wx.downloadFile) to path.
const authed = (wxCall, path, options) =>
  withToken((resolve, reject) =>
    wx[wxCall](Object.assign({}, options, {
      url: url(path),
      header: authHeader(),
      success: resolve,
      fail: () => reject(networkError()),
    })),
  )

async function request(method, path, data) {
  const res = await authed('request', path, { method, data })
  if (res.statusCode >= 400) throw fromAnswer(res.statusCode, res.data)
  return res.data
}

// wx.uploadFile sends multipart/form-data; its answer body arrives as a string.
async function upload(path, filePath, name) {
  const res = await authed('uploadFile', path, { filePath, name })
  if (res.statusCode >= 400) throw fromAnswer(res.statusCode, res.data)
  return res
}

// The body of a refused download is saved to a file too; read it for the server's message.
function downloadRefusal(res) {
  let body = null
  try {
    body = wx.getFileSystemManager().readFileSync(res.tempFilePath, 'utf8')
  } catch (e) {
    body = null
  }
  return fromAnswer(res.statusCode, body)
}

async function download(path) {
  const res = await authed('downloadFile', path, {})
  if (res.statusCode !== 200) throw downloadRefusal(res)
  return res.tempFilePath
}

module.exports = {
  ApiError,
  TOKEN_KEY,
  hasToken,
  login,
  request,
  get: (path) => request('GET', path),
  post: (path, data) => request('POST', path, data),
  put: (path, data) => request('PUT', path, data),
  del: (path) => request('DELETE', path),
  upload,
  download,
}

// There is no single-exam route: the list is short and already public.
module.exports.exam = async (id) => {
  const exams = await module.exports.get('/api/v1/exams')
  const found = exams.find((e) => String(e.id) === String(id))
  if (!found) throw new ApiError(404, 'not_found', '考试不存在或已结束报名')
  return found
}

// One of the caller's registrations and its exam, as the photo and pay pages show them.
module.exports.registrationAndExam = async (id) => {
  const registration = await module.exports.get('/api/v1/registrations/' + id)
  return { registration, exam: await module.exports.exam(registration.exam_id) }
}
