// The server's field rules (src/domain/candidate.rs, src/domain/id_number.rs), with its messages,
// so a candidate hears about a typo before anything is sent. The server checks again.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK_CHARS = '10X98765432'

const isCjk = (c) => {
  const u = c.codePointAt(0)
  return (u >= 0x3400 && u <= 0x4dbf) || (u >= 0x4e00 && u <= 0x9fff) ||
    (u >= 0xf900 && u <= 0xfaff) || (u >= 0x20000 && u <= 0x3134f)
}

function name(input) {
  const text = String(input || '').trim().replace(/[•・．]/g, '·')
  const chars = Array.from(text)
  if (chars.length < 2) return '姓名至少2个字'
  if (chars.length > 30) return '姓名不能超过30个字'
  if (!chars.every((c) => isCjk(c) || c === '·' || c === ' ' || /[A-Za-z]/.test(c))) {
    return '姓名只能包含汉字、字母、空格和间隔号“·”'
  }
  if (text.startsWith('·') || text.endsWith('·') || text.includes('··')) {
    return '间隔号“·”只能出现在姓名中间'
  }
  return ''
}

function realDate(yyyymmdd) {
  const y = Number(yyyymmdd.slice(0, 4))
  const m = Number(yyyymmdd.slice(4, 6))
  const d = Number(yyyymmdd.slice(6, 8))
  if (m < 1 || m > 12 || d < 1) return false
  const date = new Date(Date.UTC(y, m - 1, d))
  const real = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
  return real && y >= 1850 && date.getTime() <= Date.now()
}

function idNumber(input) {
  const text = String(input || '').trim().toUpperCase()
  if (Array.from(text).length !== 18) return '身份证号应为18位'
  if (!/^[0-9]{17}[0-9X]$/.test(text)) return '身份证号前17位应为数字，最后一位为数字或X'
  if (!realDate(text.slice(6, 14))) return '身份证号中的出生日期不存在'
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(text[i]) * WEIGHTS[i]
  if (CHECK_CHARS[sum % 11] !== text[17]) return '身份证号校验位不正确，请核对'
  return ''
}

function phone(input) {
  let digits = String(input || '').replace(/[ -]/g, '')
  if (digits.startsWith('+86')) digits = digits.slice(3)
  else if (digits.startsWith('86') && digits.length === 13) digits = digits.slice(2)
  return /^1[3-9][0-9]{9}$/.test(digits) ? '' : '请填写11位中国大陆手机号'
}

// Every field's message, '' where the field is fine.
function check(form) {
  return { name: name(form.name), id_number: idNumber(form.id_number), phone: phone(form.phone) }
}

module.exports = { name, idNumber, phone, check }
