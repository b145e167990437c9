#!/usr/bin/env bash
# Makes throwaway certificates for the TLS tests in DIR (EC P-256, valid one day):
#   ca.pem                              the CA ferryd's server and client certificates chain to
#   server.pem server.key               for 127.0.0.1 and localhost, signed by ca
#   client.pem client.key               a client certificate signed by ca
#   other_ca.pem                        an unrelated CA
#   other_client.pem other_client.key   a client certificate signed by other_ca
set -euo pipefail
dir="$1"
mkdir -p "${dir}"
cd "${dir}"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2> /dev/null; }
ca() {  # ca NAME
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -days 1 -subj "/CN=ferry test $1" -out "$1.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
}
leaf() {  # leaf NAME CA EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=ferry test $1" -out "$1.csr" 2> /dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 1 \
    -extfile "$1.ext" -out "$1.pem" 2> /dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca
ca other_ca
leaf server ca "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca "extendedKeyUsage=clientAuth"
leaf other_client other_ca "extendedKeyUsage=clientAuth"
