const api = require('../../utils/api')
const format = require('../../utils/format')

Component({
  data: { loading: true, exams: [], error: '' },
  methods: {
    onLoad() {
      return this.load()
    },
    onPullDownRefresh() {
      return this.load().then(() => wx.stopPullDownRefresh())
    },
    async load() {
      try {
        const exams = await api.get('/api/v1/exams')
        this.setData({ loading: false, error: '', exams: exams.map(format.exam) })
      } catch (e) {
        this.setData({ loading: false, error: e.message })
      }
    },
    open(e) {
      wx.navigateTo({ url: '/pages/exam/index?id=' + e.currentTarget.dataset.id })
    },
  },
})
