const api = require('../../utils/api')
const rules = require('../../utils/rules')

const FIELDS = ['name', 'id_number', 'phone']
// Conflicts that are about one field, said next to it.
const FIELD_OF_CODE = { id_number_unavailable: 'id_number' }

Component({
  data: {
    examId: '',
    // Set when a rejected registration is corrected and resubmitted.
    registrationId: '',
    reviewNote: '',
    form: { name: '', id_number: '', phone: '' },
    errors: { name: '', id_number: '', phone: '' },
    error: '',
    submitting: false,
  },
  methods: {
    async onLoad(query) {
      this.setData({ examId: query.exam_id || '', registrationId: query.id || '' })
      if (!query.id) return
      try {
        const r = await api.get('/api/v1/registrations/' + query.id)
        // The ID number comes back masked: the candidate types it again.
        this.setData({
          examId: String(r.exam_id),
          reviewNote: r.review_note || '',
          form: { name: r.name, id_number: '', phone: r.phone },
        })
      } catch (e) {
        this.setData({ error: e.message })
      }
    },
    onInput(e) {
      const field = e.currentTarget.dataset.field
      this.setData({ ['form.' + field]: e.detail.value, ['errors.' + field]: '' })
    },
    async submit() {
      if (this.data.submitting) return
      const form = this.data.form
      const errors = rules.check(form)
      this.setData({ errors, error: '' })
      if (FIELDS.some((f) => errors[f])) return
      this.setData({ submitting: true })
      try {
        const id = this.data.registrationId
        const r = id
          ? await api.put('/api/v1/registrations/' + id, form)
          : await api.post('/api/v1/registrations', Object.assign({ exam_id: Number(this.data.examId) }, form))
        this.setData({ submitting: false })
        wx.redirectTo({ url: '/pages/photo/index?id=' + r.id })
      } catch (e) {
        const field = FIELDS.includes(e.field) ? e.field : FIELD_OF_CODE[e.code]
        if (field) this.setData({ submitting: false, ['errors.' + field]: e.message })
        else this.setData({ submitting: false, error: e.message })
      }
    },
  },
})
