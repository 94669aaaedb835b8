// Pages rendered by miniprogram-simulate's pure-JS compiler in a jsdom document, with the wx
// stand-in installed and config.js pointed at the test's server.
const assert = require('node:assert/strict')
const path = require('node:path')
const { JSDOM } = require('jsdom')

const dom = new JSDOM('<!doctype html><html><body></body></html>')
for (const k of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'MutationObserver']) {
  global[k] = k === 'window' ? dom.window : dom.window[k]
}
const simulate = require('miniprogram-simulate')
const config = require('../../config')
const { standIn } = require('./wx')
const { sleep } = require('./server')

const ROOT = path.resolve(__dirname, '../..')

// A candidate on their phone: their own wx (storage, WeChat user) against this server.
function phone(server, name) {
  config.baseUrl = server.url
  config.pollIntervalMs = 100
  config.pollTimes = 50
  const wx = standIn(server, name)
  return {
    wx,
    // Opens a page as WeChat would: renders it, then onLoad(query) and onShow().
    async open(page, query = {}) {
      global.wx = wx
      const id = simulate.load(path.join(ROOT, 'pages', page, 'index'), { compiler: 'simulate', rootPath: ROOT })
      const comp = simulate.render(id)
      comp.attach(document.createElement('parent-wrapper'))
      const methods = comp.instance
      if (methods.onLoad) await methods.onLoad(query)
      if (methods.onShow) await methods.onShow()
      return wrap(comp)
    },
  }
}

function wrap(comp) {
  const find = (sel) => comp.querySelector(sel)
  const p = {
    comp,
    data: () => comp.instance.data,
    has: (sel) => !!find(sel),
    text(sel) {
      const node = find(sel)
      assert.ok(node, 'no ' + sel + ' on the page:\n' + comp.dom.textContent)
      return node.dom.textContent.trim()
    },
    all: () => comp.dom.textContent.replace(/\s+/g, ' '),
    // j-component delivers events on a later tick: both wait for the handler to have run.
    async tap(sel) {
      const node = find(sel)
      assert.ok(node, 'nothing to tap at ' + sel + ':\n' + comp.dom.textContent)
      node.dispatchEvent('tap')
      await sleep(5)
    },
    async input(sel, value) {
      const node = find(sel)
      assert.ok(node, 'no field ' + sel)
      node.dispatchEvent('input', { detail: { value } })
      await sleep(5)
    },
    // Waits until the page shows sel (and, given, text in it), as a candidate watching the screen.
    async waitFor(sel, text, ms = 15000) {
      const until = Date.now() + ms
      for (;;) {
        const node = find(sel)
        if (node && (text === undefined || node.dom.textContent.includes(text))) return node.dom.textContent.trim()
        if (Date.now() > until) {
          assert.fail('waited for ' + sel + (text ? ' with "' + text + '"' : '') + '; the page shows:\n' + comp.dom.textContent)
        }
        await sleep(20)
      }
    },
  }
  return p
}

// A valid resident ID number, different for each seq (born 1990-01-01 + seq days).
function idNumber(seq) {
  const born = new Date(Date.UTC(1990, 0, 1) + seq * 86400000).toISOString().slice(0, 10).replace(/-/g, '')
  const first17 = '110105' + born + String(seq % 1000).padStart(3, '0')
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...first17].reduce((acc, d, i) => acc + Number(d) * weights[i], 0)
  return first17 + '10X98765432'[sum % 11]
}

module.exports = { phone, idNumber }
