// A candidate from wx.login to a downloaded ticket PDF, through the real server.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { after, before, test } = require('node:test')

const { startServer } = require('./support/server')
const { phone } = require('./support/harness')
const { register, waitUntil, waitForNavigation } = require('./support/flow')
const api = require('../utils/api')

let server
before(async () => {
  server = await startServer()
})
after(() => server && server.stop())

test('first open signs in with wx.login and keeps the token', async () => {
  const { wx } = phone(server, 'first-open')
  global.wx = wx
  let definition
  global.App = (d) => {
    definition = d
  }
  require('../app')
  definition.onLaunch()
  await api.login() // joins the sign-in onLaunch started
  assert.equal(wx.logins, 1, 'one wx.login')
  assert.match(wx.getStorageSync(api.TOKEN_KEY), /.{16,}/)
  assert.deepEqual(wx.requests, ['POST /api/v1/login'])
})

test('a candidate registers, pays and opens the ticket PDF', async () => {
  const me = phone(server, 'journey')
  const list = await me.open('exams')
  const exam = list.data().exams.find((e) => e.code === 'DEMO2026')
  assert.ok(exam, 'the demo exam is listed')
  const card = list.text('#exam-' + exam.id)
  assert.match(card, /50\.00 元/)
  assert.match(card, /200 \/ 200/, 'remaining of capacity')
  assert.match(card, /演示考点/)
  await list.tap('#exam-' + exam.id)
  assert.equal(me.wx.navigations.at(-1), '/pages/exam/index?id=' + exam.id)
  assert.equal(me.wx.logins, 1, 'signed in on the first request')

  const detail = await me.open('exam', { id: String(exam.id) })
  assert.match(detail.text('#notice'), /报名须知/)
  await detail.tap('#register')
  assert.equal(me.wx.navigations.at(-1), '/pages/register/index?exam_id=' + exam.id)

  const id = await register(me, exam.id, 1)
  const photo = await me.open('photo', { id })
  await photo.waitFor('#later', '先去缴费')
  await photo.tap('#later')
  assert.equal(me.wx.navigations.at(-1), '/pages/pay/index?id=' + id)

  const pay = await me.open('pay', { id })
  assert.equal(pay.text('#amount'), '50.00 元')
  await pay.tap('#pay')
  assert.match(await pay.waitFor('#paid'), /缴费成功，准考证号 \S+/)
  assert.equal(me.wx.payments.length, 1)
  assert.match(me.wx.payments[0].package, /^prepay_id=/)

  const mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '已缴费')
  assert.ok(!mine.has('#cancel-' + id), 'a paid registration is not cancelled here')
  await mine.tap('#ticket-' + id)
  await waitUntil(() => me.wx.documents.length === 1, 'wx.openDocument')
  const [doc] = me.wx.documents
  assert.equal(doc.fileType, 'pdf')
  assert.equal(doc.showMenu, true, 'the candidate can save or print it')
  assert.equal(fs.readFileSync(doc.filePath).subarray(0, 5).toString('latin1'), '%PDF-')
  assert.ok(me.wx.requests.includes('DOWNLOAD /api/v1/registrations/' + id + '/ticket.pdf'))
  assert.equal(me.wx.logins, 1, 'one sign-in for the whole visit')
})

test('an unpaid registration is cancelled from my registrations', async () => {
  const me = phone(server, 'canceller')
  const examId = await server.createExam({ code: 'CANCEL1', capacity: 5 })
  const id = await register(me, examId, 2, '李四')
  const mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '待缴费')
  await mine.tap('#pay-' + id)
  await waitForNavigation(me.wx, new RegExp('^/pages/pay/index\\?id=' + id + '$'))
  await mine.tap('#cancel-' + id)
  await mine.waitFor('#status-' + id, '已取消')
  assert.equal(mine.text('#notice'), '报名已取消')
  assert.ok(!mine.has('#pay-' + id) && !mine.has('#cancel-' + id))
  const exams = await me.open('exams')
  assert.match(exams.text('#exam-' + examId), /5 \/ 5/, 'the seat is free again')
})
