#!/usr/bin/env bash
# gen-certs.sh DIR [SERVER_URL] - writes what fake-apiserver and its clients need:
#   ca.crt, ca.key          a throwaway CA
#   server.crt, server.key  signed by it, SAN 127.0.0.1, ::1, localhost, kubernetes.default.svc
#   token, denied-token     bearer tokens (user "admin", and user "reader" for --deny-user reader)
#   tokens.csv              both, in kube-apiserver's --token-auth-file format
#   kubeconfig              when SERVER_URL is given (e.g. https://127.0.0.1:16443)
set -euo pipefail

dir=${1:?usage: gen-certs.sh DIR [SERVER_URL]}
server=${2:-}
mkdir -p "$dir"
cd "$dir"
umask 077

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout ca.key -out ca.crt -days 30 -subj "/CN=fake-apiserver-ca" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout server.key -out server.csr -subj "/CN=kube-apiserver" 2>/dev/null
cat >server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc
EXT
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
	-out server.crt -days 30 -extfile server.ext 2>/dev/null
rm -f server.csr server.ext ca.srl

openssl rand -hex 24 >token
openssl rand -hex 24 >denied-token
printf '%s,admin,uid-admin,"system:masters"\n%s,reader,uid-reader\n' \
	"$(cat token)" "$(cat denied-token)" >tokens.csv
chmod 644 ca.crt server.crt

if [ -n "$server" ]; then
	cat >kubeconfig <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $server
    certificate-authority: $PWD/ca.crt
users:
- name: admin
  user:
    token: $(cat token)
contexts:
- name: fake
  context:
    cluster: fake
    user: admin
    namespace: default
current-context: fake
KC
fi
