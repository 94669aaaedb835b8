// What a candidate is told when something goes wrong, through the real server.
const assert = require('node:assert/strict')
const { after, before, test } = require('node:test')

const { startServer } = require('./support/server')
const { phone, idNumber } = require('./support/harness')
const { register } = require('./support/flow')
const api = require('../utils/api')

let server
before(async () => {
  server = await startServer()
})
after(() => server && server.stop())

test('a wrong check character is shown at the ID number field and nothing is sent', async () => {
  const me = phone(server, 'typo')
  const form = await me.open('register', { exam_id: '1' })
  const good = idNumber(10)
  const wrong = good.slice(0, 17) + (good[17] === '1' ? '2' : '1')
  await form.input('#name', '王五')
  await form.input('#id_number', wrong)
  await form.input('#phone', '1380013800')
  await form.tap('#submit')
  assert.equal(form.text('#id_number-error'), '身份证号校验位不正确，请核对')
  assert.equal(form.text('#phone-error'), '请填写11位中国大陆手机号')
  assert.ok(!form.has('#name-error'))
  assert.deepEqual(me.wx.requests, [], 'the form was not sent')
  await form.input('#id_number', good)
  assert.ok(!form.has('#id_number-error'), 'typing clears the field error')
})

test("the server's field errors land at their fields", async () => {
  const first = phone(server, 'holder')
  const examId = await server.createExam({ code: 'FIELD1', capacity: 5 })
  await register(first, examId, 11)

  const second = phone(server, 'same-id')
  const form = await second.open('register', { exam_id: String(examId) })
  await form.input('#name', '赵六')
  await form.input('#id_number', idNumber(11))
  await form.input('#phone', '13700137000')
  await form.tap('#submit')
  assert.equal(
    await form.waitFor('#id_number-error'),
    '该身份证号已绑定其他微信账号，不能用于报名。如需更正请联系考试办公室。'
  )
  assert.ok(!form.has('#error'))
  assert.equal(second.wx.navigations.length, 0, 'the candidate stays on the form')

  // The server checks the same rules itself; its field names are the form's.
  global.wx = second.wx
  const refused = await api
    .post('/api/v1/registrations', { exam_id: examId, name: '赵六', id_number: '123', phone: '13700137000' })
    .then(() => null, (e) => e)
  assert.equal(refused.status, 422)
  assert.equal(refused.field, 'id_number')
  assert.equal(refused.message, '身份证号应为18位')
})

test('a sold-out exam says so in the list, the detail and the form', async () => {
  const examId = await server.createExam({ code: 'FULL1', capacity: 1 })
  const late = phone(server, 'late')
  // The late candidate opened the form while a seat was still left.
  const form = await late.open('register', { exam_id: String(examId) })
  await register(phone(server, 'early'), examId, 21)

  const list = await late.open('exams')
  assert.match(list.text('#exam-' + examId), /名额已满/)
  const detail = await late.open('exam', { id: String(examId) })
  assert.equal(detail.text('#blocked'), '名额已满')
  await detail.tap('#register')
  assert.deepEqual(late.wx.navigations, [], 'the register button does nothing')

  await form.input('#name', '孙七')
  await form.input('#id_number', idNumber(22))
  await form.input('#phone', '13600136000')
  await form.tap('#submit')
  assert.equal(await form.waitFor('#error'), '名额已满，报名未成功')
  assert.equal(late.wx.navigations.length, 0)
})

test('a payment the candidate cancels can be paid on a second try', async () => {
  const me = phone(server, 'hesitant')
  const examId = await server.createExam({ code: 'CANCELPAY', capacity: 3, feeFen: 12345 })
  const id = await register(me, examId, 31)
  const pay = await me.open('pay', { id })
  assert.equal(pay.text('#amount'), '123.45 元')
  me.wx.payMode = 'cancel'
  await pay.tap('#pay')
  assert.equal(await pay.waitFor('#message'), '您已取消支付，名额仍为您保留，可重新支付')
  assert.equal(pay.text('#pay'), '重新支付')
  const mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '待缴费')

  me.wx.payMode = 'pay'
  await pay.tap('#pay')
  await pay.waitFor('#paid')
  assert.ok(!pay.has('#message'))
  assert.equal(me.wx.payments.length, 2)
  const after = await me.open('mine')
  assert.equal(after.text('#status-' + id), '已缴费')
})

test('an expired token is renewed with wx.login and the page still loads', async () => {
  const me = phone(server, 'returning')
  const examId = await server.createExam({ code: 'EXPIRE1', capacity: 3 })
  const id = await register(me, examId, 41)
  const oldToken = me.wx.getStorageSync(api.TOKEN_KEY)
  assert.equal(me.wx.logins, 1)

  await server.expireSessions()
  const mine = await me.open('mine')
  assert.equal(mine.text('#status-' + id), '待缴费', 'the same candidate, signed in again')
  assert.ok(!mine.has('#error'))
  assert.equal(me.wx.logins, 2)
  const token = me.wx.getStorageSync(api.TOKEN_KEY)
  assert.ok(token && token !== oldToken, 'a new token is kept')
  assert.ok(me.wx.requests.filter((r) => r === 'POST /api/v1/login').length === 2)
})
