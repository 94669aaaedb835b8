// An exam whose registrations staff review: waiting, rejected with a reason, corrected,
// approved, then paid — staff deciding through the real admin form.
const assert = require('node:assert/strict')
const { after, before, test } = require('node:test')

const { startServer } = require('./support/server')
const { phone, idNumber } = require('./support/harness')
const { register, waitForNavigation } = require('./support/flow')

let server
before(async () => {
  server = await startServer()
})
after(() => server && server.stop())

test('under review, rejected with a reason, resubmitted, approved and paid', async () => {
  const decide = await server.staff()
  const examId = await server.createExam({ code: 'REVIEW1', capacity: 2, review: 'manual' })
  const me = phone(server, 'reviewed')

  const detail = await me.open('exam', { id: String(examId) })
  assert.match(detail.text('#notice'), /需资格审核/)

  const id = await register(me, examId, 51, '钱八')
  const photo = await me.open('photo', { id })
  await photo.waitFor('#later', '返回我的报名')

  let mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '资格审核中')
  assert.ok(!mine.has('#pay-' + id), 'nothing to pay before approval')
  assert.ok(mine.has('#cancel-' + id))
  const early = await me.open('pay', { id })
  await early.tap('#pay')
  assert.equal(await early.waitFor('#error'), '报名资格审核通过后才能缴费')
  assert.equal(me.wx.payments.length, 0)

  await decide(id, 'reject', '姓名与身份证不符')
  mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '审核未通过')
  assert.equal(mine.text('#note-' + id), '未通过原因：姓名与身份证不符')
  await mine.tap('#fix-' + id)
  assert.equal(me.wx.navigations.at(-1), '/pages/register/index?id=' + id)

  const fix = await me.open('register', { id })
  assert.match(fix.text('#review-note'), /姓名与身份证不符/)
  assert.equal(fix.data().form.name, '钱八', 'the form is filled with what was sent')
  assert.equal(fix.text('#submit'), '重新提交')
  await fix.input('#name', '钱捌')
  await fix.input('#id_number', idNumber(51))
  await fix.tap('#submit')
  await waitForNavigation(me.wx, new RegExp('^/pages/photo/index\\?id=' + id + '$'))
  assert.ok(me.wx.requests.includes('PUT /api/v1/registrations/' + id))
  mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '资格审核中')
  assert.ok(!mine.has('#note-' + id))

  await decide(id, 'approve')
  mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '待缴费')
  const pay = await me.open('pay', { id })
  await pay.tap('#pay')
  await pay.waitFor('#paid')
  mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '已缴费')
  assert.ok(mine.has('#ticket-' + id))
})
