const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: { id: '', rules: '', maxBytes: 0, toPay: false, uploaded: false, refusal: '', error: '', uploading: false },
  methods: {
    async onLoad(query) {
      this.setData({ id: query.id })
      try {
        const { registration: r, exam } = await api.registrationAndExam(query.id)
        this.setData({
          rules: format.photoRules(exam.photo_rules),
          maxBytes: exam.photo_rules ? exam.photo_rules.max_bytes : 0,
          toPay: r.status === 'pending_payment',
        })
      } catch (e) {
        this.setData({ error: e.message })
      }
    },
    choose() {
      wx.chooseMedia({
        count: 1,
        mediaType: ['image'],
        sizeType: ['original'],
        sourceType: ['album', 'camera'],
        success: (res) => this.upload(res.tempFiles[0]),
      })
    },
    async upload(file) {
      const max = this.data.maxBytes
      if (max && file.size > max) {
        this.setData({ refusal: '照片不能超过 ' + Math.round(max / 1024 / 1024) + ' MB，请压缩后重新选择' })
        return
      }
      this.setData({ uploading: true, refusal: '', error: '' })
      try {
        await api.upload('/api/v1/registrations/' + this.data.id + '/photo', file.tempFilePath, 'photo')
        this.setData({ uploading: false, uploaded: true })
      } catch (e) {
        const refused = String(e.code).startsWith('photo_')
        this.setData({ uploading: false, uploaded: false, [refused ? 'refusal' : 'error']: e.message })
      }
    },
    next() {
      if (this.data.toPay) wx.redirectTo({ url: '/pages/pay/index?id=' + this.data.id })
      else wx.switchTab({ url: '/pages/mine/index' })
    },
  },
})
