// The photo rules before the upload, and the server's photo_… refusal after it.
const assert = require('node:assert/strict')
const { after, before, test } = require('node:test')

const { startServer } = require('./support/server')
const { phone } = require('./support/harness')
const { register } = require('./support/flow')
const { photoFile } = require('./support/png')
const { tmpDir } = require('./support/wx')

const RULES = '照片要求：JPG 或 PNG，至少 295×390 像素，宽高比 3:4（误差 5% 以内），不超过 2 MB'

let server
before(async () => {
  server = await startServer()
})
after(() => server && server.stop())

test('the photo rules are shown before the upload, a refused photo says why, a good one is taken', async () => {
  const examId = await server.createExam({ code: 'PHOTO1', capacity: 3, review: 'manual' })
  const me = phone(server, 'photographed')
  const list = await me.open('exams')
  assert.match(list.text('#exam-' + examId), new RegExp(RULES))
  const detail = await me.open('exam', { id: String(examId) })
  assert.match(detail.text('#notice'), /需资格审核/)
  assert.match(detail.text('#notice'), new RegExp(RULES))

  const id = await register(me, examId, 61)
  const page = await me.open('photo', { id })
  await page.waitFor('#rules', RULES)
  const dir = tmpDir()

  me.wx.photo = photoFile(dir, 200, 260)
  await page.tap('#choose')
  const refusal = await page.waitFor('#refusal')
  assert.match(refusal, /^照片未通过：.*200/, 'names the measured size')
  assert.ok(!page.has('#uploaded'))
  assert.ok(me.wx.requests.includes('UPLOAD /api/v1/registrations/' + id + '/photo'))

  me.wx.photo = photoFile(dir, 300, 400)
  await page.tap('#choose')
  assert.equal(await page.waitFor('#uploaded'), '照片已上传')
  assert.ok(!page.has('#refusal'))
  assert.equal(page.text('#next'), '返回我的报名')
})
