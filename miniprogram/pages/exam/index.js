const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: { exam: null, error: '' },
  methods: {
    async onLoad(query) {
      try {
        this.setData({ exam: format.exam(await api.exam(query.id)) })
      } catch (e) {
        this.setData({ error: e.message })
      }
    },
    register() {
      if (this.data.exam.blocked) return
      wx.navigateTo({ url: '/pages/register/index?exam_id=' + this.data.exam.id })
    },
  },
})
