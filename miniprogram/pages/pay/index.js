const api = require('../../utils/api')
const config = require('../../config')
const format = require('../../utils/format')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// The exact arguments the server answered; out_trade_no is ours, not WeChat's.
const payWith = (args) =>
  new Promise((resolve) =>
    wx.requestPayment({
      timeStamp: args.timeStamp,
      nonceStr: args.nonceStr,
      package: args.package,
      signType: args.signType,
      paySign: args.paySign,
      success: () => resolve({ ok: true }),
      fail: (res) => resolve({ ok: false, errMsg: (res && res.errMsg) || '' }),
    }),
  )

Component({
  // state: ready → paying → confirming → paid; failed and ready allow another try.
  data: { id: '', title: '', amount: '', state: 'ready', message: '', error: '', ticketNo: '' },
  methods: {
    async onLoad(query) {
      this.setData({ id: query.id })
      try {
        const { registration: r, exam } = await api.registrationAndExam(query.id)
        this.setData({ title: exam.title, amount: format.yuan(exam.fee_fen) })
        if (r.status === 'paid') this.setData({ state: 'paid', ticketNo: r.ticket_no || '' })
      } catch (e) {
        this.setData({ error: e.message })
      }
    },
    async pay() {
      if (this.data.state === 'paying' || this.data.state === 'confirming') return
      this.setData({ state: 'paying', message: '', error: '' })
      let args
      try {
        args = await api.post('/api/v1/registrations/' + this.data.id + '/pay')
      } catch (e) {
        this.setData({ state: 'ready', error: e.message })
        return
      }
      const result = await payWith(args)
      if (!result.ok) {
        const cancelled = result.errMsg.indexOf('cancel') >= 0
        this.setData({
          state: 'failed',
          message: cancelled ? '您已取消支付，名额仍为您保留，可重新支付' : '支付未完成，请重新支付',
        })
        return
      }
      this.setData({ state: 'confirming' })
      await this.waitForPaid()
    },
    // WeChat's notify may reach the server after wx.requestPayment returns: ask until it says paid.
    async waitForPaid() {
      for (let i = 0; i < config.pollTimes; i++) {
        try {
          const r = await api.get('/api/v1/registrations/' + this.data.id)
          if (r.status === 'paid') {
            this.setData({ state: 'paid', ticketNo: r.ticket_no || '' })
            return
          }
        } catch (e) {
          // A lost answer while confirming is no reason to stop asking.
        }
        await sleep(config.pollIntervalMs)
      }
      this.setData({ state: 'failed', message: '暂未收到支付结果，请稍后在「我的报名」中查看，勿重复支付' })
    },
    mine() {
      wx.switchTab({ url: '/pages/mine/index' })
    },
  },
})
