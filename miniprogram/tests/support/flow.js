// Steps several tests share: a candidate fills the form, and waiting on what the stand-in saw.
const assert = require('node:assert/strict')
const { idNumber } = require('./harness')
const { sleep } = require('./server')

async function waitUntil(check, what, ms = 15000) {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) assert.fail('timed out waiting for ' + what)
    await sleep(20)
  }
}

const waitForNavigation = (wx, pattern) =>
  waitUntil(() => pattern.test(wx.navigations.at(-1) || ''), 'navigation to ' + pattern + ', got ' + wx.navigations)

// Fills and submits the form; returns the new registration's id from the photo page it goes to.
async function register(me, examId, seq, name = '张三') {
  const form = await me.open('register', { exam_id: String(examId) })
  await form.input('#name', name)
  await form.input('#id_number', idNumber(seq))
  await form.input('#phone', '139' + String(seq).padStart(8, '0'))
  await form.tap('#submit')
  await waitForNavigation(me.wx, /^\/pages\/photo\/index\?id=\d+$/)
  return me.wx.navigations.at(-1).split('=')[1]
}

module.exports = { register, waitUntil, waitForNavigation }
