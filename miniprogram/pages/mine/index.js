const api = require('../../utils/api')
const format = require('../../utils/format')

const UNPAID = ['under_review', 'pending_payment']
// While the registration lives the photo can be changed; the ticket prints the latest.
const PHOTO = ['under_review', 'rejected', 'pending_payment', 'paid']

function view(r, titles) {
  const status = format.status(r.status)
  return {
    id: r.id,
    title: titles[r.exam_id] || '考试 #' + r.exam_id,
    status: status.label,
    statusClass: status.cls,
    reviewNote: r.status === 'rejected' ? r.review_note || '' : '',
    ticketNo: r.ticket_no || '',
    seat: r.room ? r.room + ' 考场 ' + r.seat_no + ' 号' : '',
    canPay: r.status === 'pending_payment',
    canCancel: UNPAID.includes(r.status),
    canFix: r.status === 'rejected',
    canTicket: r.status === 'paid' && !!r.ticket_no,
    canPhoto: PHOTO.includes(r.status),
    refundPending: !!r.refund_pending,
  }
}

Component({
  data: { loading: true, items: [], error: '', notice: '', opening: 0 },
  methods: {
    onShow() {
      return this.load()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      try {
        const [list, exams] = await Promise.all([api.get('/api/v1/registrations'), api.get('/api/v1/exams')])
        const titles = {}
        exams.forEach((e) => {
          titles[e.id] = e.title
        })
        this.setData({ loading: false, error: '', items: list.map((r) => view(r, titles)) })
      } catch (e) {
        this.setData({ loading: false, error: e.message })
      }
    },
    pay(e) {
      wx.navigateTo({ url: '/pages/pay/index?id=' + e.currentTarget.dataset.id })
    },
    photo(e) {
      wx.navigateTo({ url: '/pages/photo/index?id=' + e.currentTarget.dataset.id })
    },
    fix(e) {
      wx.navigateTo({ url: '/pages/register/index?id=' + e.currentTarget.dataset.id })
    },
    cancel(e) {
      const id = e.currentTarget.dataset.id
      wx.showModal({
        title: '取消报名',
        content: '取消后名额将释放，确定取消吗？',
        success: async (res) => {
          if (!res.confirm) return
          try {
            await api.del('/api/v1/registrations/' + id)
            this.setData({ notice: '报名已取消' })
          } catch (err) {
            this.setData({ error: err.message })
          }
          await this.load()
        },
      })
    },
    async ticket(e) {
      const id = e.currentTarget.dataset.id
      this.setData({ opening: id, error: '' })
      try {
        const filePath = await api.download('/api/v1/registrations/' + id + '/ticket.pdf')
        // showMenu lets the candidate save, forward or print the PDF.
        wx.openDocument({
          filePath,
          fileType: 'pdf',
          showMenu: true,
          fail: () => this.setData({ error: '无法打开准考证，请稍后重试' }),
        })
      } catch (err) {
        this.setData({ error: err.message })
      }
      this.setData({ opening: 0 })
    },
  },
})
