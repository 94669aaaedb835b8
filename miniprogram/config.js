// The one place a deploying exam office edits: the examdesk server this mini-program talks to.
// It must be https and listed as a request, uploadFile and downloadFile domain in the
// mini-program console (see README.md).
module.exports = {
  baseUrl: 'https://exam.example.com',
  // After wx.requestPayment succeeds WeChat's notify may reach the server a little later.
  pollIntervalMs: 1500,
  pollTimes: 20,
}
