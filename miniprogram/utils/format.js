// How amounts, times, states and photo rules read in the pages.
const STATUS = {
  under_review: ['资格审核中', 'status-wait'],
  rejected: ['审核未通过', 'status-bad'],
  pending_payment: ['待缴费', 'status-wait'],
  paid: ['已缴费', 'status-paid'],
  cancelled: ['已取消', 'status-end'],
  expired: ['已过期', 'status-end'],
  refunding: ['退款中', 'status-end'],
  refunded: ['已退款', 'status-end'],
}

const yuan = (fen) => (Number(fen) / 100).toFixed(2) + ' 元'

const pad = (n) => String(n).padStart(2, '0')

// China time whatever the phone's zone: exam times are Beijing times.
function chinaTime(rfc3339) {
  if (!rfc3339) return ''
  const t = new Date(new Date(rfc3339).getTime() + 8 * 3600 * 1000)
  return t.getUTCFullYear() + '-' + pad(t.getUTCMonth() + 1) + '-' + pad(t.getUTCDate()) +
    ' ' + pad(t.getUTCHours()) + ':' + pad(t.getUTCMinutes())
}

function photoRules(rules) {
  if (!rules) return ''
  const mb = Math.round((rules.max_bytes / 1024 / 1024) * 10) / 10
  return '照片要求：JPG 或 PNG，至少 ' + rules.min_width + '×' + rules.min_height + ' 像素，宽高比 ' +
    rules.aspect_width + ':' + rules.aspect_height + '（误差 ' + rules.aspect_tolerance_pct +
    '% 以内），不超过 ' + mb + ' MB'
}

function exam(e) {
  const now = Date.now()
  const notOpen = new Date(e.opens_at).getTime() > now
  const closed = new Date(e.closes_at).getTime() <= now
  return Object.assign({}, e, {
    fee: yuan(e.fee_fen),
    seats: e.remaining > 0 ? e.remaining + ' / ' + e.capacity : '名额已满',
    seatsClass: e.remaining > 0 ? '' : 'soldout',
    window: chinaTime(e.opens_at) + ' 至 ' + chinaTime(e.closes_at),
    starts: chinaTime(e.starts_at),
    photo: photoRules(e.photo_rules),
    reviewed: e.review === 'manual',
    // Why the register button is off, '' when it is on.
    blocked: notOpen ? '报名尚未开始' : closed ? '报名已截止' : e.remaining > 0 ? '' : '名额已满',
  })
}

function status(code) {
  const [label, cls] = STATUS[code] || [code, 'status-end']
  return { label, cls }
}

module.exports = { yuan, chinaTime, photoRules, exam, status }
