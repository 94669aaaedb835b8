#!/usr/bin/env bash
# Makes the TLS files the mutual-TLS tests use, in crates/wechat-pay-v2/tests/data/: a test CA, a
# server certificate for the simulator on 127.0.0.1, and a merchant certificate packed as WeChat packs
# apiclient_cert.p12 (legacy PKCS#12: RC2-40 for the certificate, 3DES for the key, SHA-1 MAC,
# password = the merchant id). Run it again only to replace them; the tests use the committed files.
set -euo pipefail
cd "$(dirname "$0")/../crates/wechat-pay-v2/tests/data"
MCH_ID="${MCH_ID:-10000100}"
DAYS=36500
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=examdesk test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null

openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout simulator.key -out "$tmp/sim.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$tmp/sim.ext"
openssl x509 -req -in "$tmp/sim.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile "$tmp/sim.ext" -out simulator.pem 2>/dev/null

# WeChat's merchant certificates name the merchant id as the common name.
openssl req -newkey rsa:2048 -nodes -subj "/O=WeChat Test Merchant/CN=${MCH_ID}" \
  -keyout apiclient_key.pem -out "$tmp/client.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$tmp/client.ext"
openssl x509 -req -in "$tmp/client.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile "$tmp/client.ext" -out apiclient_cert.pem 2>/dev/null

openssl pkcs12 -export -legacy -certpbe PBE-SHA1-RC2-40 -keypbe PBE-SHA1-3DES -macalg sha1 \
  -in apiclient_cert.pem -inkey apiclient_key.pem -name "Tenpay Certificate" \
  -passout "pass:${MCH_ID}" -out apiclient_cert.p12
# OpenSSL 3's default (AES-256 with PBKDF2): not what WeChat issues, refused with a clear message.
openssl pkcs12 -export -in apiclient_cert.pem -inkey apiclient_key.pem \
  -passout "pass:${MCH_ID}" -out modern_aes.p12
rm -f ca.srl
echo "written: $(ls)"
