// A real examdesk in demo mode (WeChat simulator embedded under /_sim) on a free port, with its
// own data folder and SQLite file, and the CLI and admin form to set up what a test needs.
const { spawn, execFile } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const BIN = process.env.EXAMDESK_BIN || path.resolve(__dirname, '../../../target/debug/examdesk')

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.unref()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

class Server {
  constructor(dir, port) {
    this.dir = dir
    this.url = 'http://127.0.0.1:' + port
    this.dbFile = path.join(dir, 'examdesk.db')
    // Only what the service needs: no WECHAT_* of the caller's shell may leak in.
    this.env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME || dir,
      EXAMDESK_BIND: '127.0.0.1:' + port,
      EXAMDESK_DATA_DIR: path.join(dir, 'data'),
      EXAMDESK_DATABASE_URL: 'sqlite://' + this.dbFile,
      EXAMDESK_LOGIN_PER_MINUTE: '0',
      // Every test candidate comes from 127.0.0.1.
      EXAMDESK_UNPAID_HOLDS_PER_ADDRESS: '0',
      // Simulated WeChat delays (notify retries) pass a thousand times faster.
      EXAMDESK_SIM_TIME_SCALE: '0.001',
      RUST_LOG: 'warn',
    }
    this.output = ''
  }

  async start() {
    if (!fs.existsSync(BIN)) {
      throw new Error('examdesk binary not found at ' + BIN + ': run cargo build or set EXAMDESK_BIN')
    }
    this.child = spawn(BIN, ['serve', '--demo'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout.on('data', (d) => (this.output += d))
    this.child.stderr.on('data', (d) => (this.output += d))
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    for (let i = 0; i < 200; i++) {
      const early = await Promise.race([exited.then((code) => ({ code })), sleep(100).then(() => null)])
      if (early) throw new Error('examdesk exited with ' + early.code + ':\n' + this.output)
      try {
        const res = await fetch(this.url + '/healthz')
        if (res.ok) return this
      } catch (e) {
        // not listening yet
      }
    }
    throw new Error('examdesk did not answer /healthz:\n' + this.output)
  }

  async stop() {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve))
      this.child.kill('SIGTERM')
      await exited
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }

  cli(args, extraEnv) {
    return new Promise((resolve, reject) => {
      execFile(BIN, args, { env: Object.assign({}, this.env, extraEnv) }, (err, stdout, stderr) => {
        if (err) reject(new Error('examdesk ' + args.join(' ') + ': ' + stderr))
        else resolve(stdout.trim())
      })
    })
  }

  // An exam open for registration now; returns its id.
  async createExam({ code, capacity = 10, feeFen = 3000, review = 'none' }) {
    const at = (hours) => new Date(Date.now() + hours * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
    const out = await this.cli([
      'exam', 'create', '--code', code, '--title', '测试考试' + code, '--fee-fen', String(feeFen),
      '--capacity', String(capacity), '--opens', at(-1), '--closes', at(24 * 7), '--starts', at(24 * 8),
      '--venue', '测试考点', '--review', review,
    ])
    const id = Number((out.match(/\d+/) || [])[0])
    if (!id) throw new Error('no exam id in: ' + out)
    return id
  }

  // Straight into the database, as time would: the candidate's sessions have run out.
  expireSessions() {
    return new Promise((resolve, reject) => {
      execFile('sqlite3', [this.dbFile, 'UPDATE candidate_sessions SET expires_at = 0'], (err, _o, stderr) =>
        err ? reject(new Error('sqlite3: ' + stderr)) : resolve(),
      )
    })
  }

  // The demo admin, signed in through the real form; returns a decide(id, 'approve'|'reject', reason).
  async staff() {
    const jar = new Map()
    const send = async (p, init = {}) => {
      const headers = Object.assign({}, init.headers, { Cookie: [...jar].map(([k, v]) => k + '=' + v).join('; ') })
      const res = await fetch(this.url + p, Object.assign({}, init, { headers, redirect: 'manual' }))
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';')
        const eq = pair.indexOf('=')
        jar.set(pair.slice(0, eq), pair.slice(eq + 1))
      }
      return res
    }
    const csrfOf = (html) => (html.match(/name="csrf" value="([^"]*)"/) || [])[1] || ''
    const form = (fields) => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    })
    const password = fs.readFileSync(path.join(this.env.EXAMDESK_DATA_DIR, 'demo-admin-password'), 'utf8').trim()
    const login = await send('/admin/login')
    const signedIn = await send('/admin/login', form({
      username: 'admin', password, csrf: csrfOf(await login.text()), next: '/admin',
    }))
    if (signedIn.status !== 303 && signedIn.status !== 302) throw new Error('staff sign-in: ' + signedIn.status)
    return async (id, what, reason = '') => {
      const page = await send('/admin/review')
      const res = await send('/admin/registrations/' + id + '/' + what, form({ csrf: csrfOf(await page.text()), reason }))
      if (res.status >= 400) throw new Error(what + ' ' + id + ': ' + res.status + ' ' + (await res.text()))
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'examdesk-mp-'))
  return new Server(dir, await freePort()).start()
}

module.exports = { startServer, sleep }
