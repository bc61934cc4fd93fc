#!/usr/bin/env bash
# Starts a throwaway OpenLDAP server (slapd) for the LDAP tests and prints its settings.
#   eval "$(scripts/ldap-test-server.sh start)"   # exports QABOARD_TEST_LDAP_* and LDAPTEST_DIR
#   scripts/ldap-test-server.sh stop "$LDAPTEST_DIR"
# Runs slapd as the current user on a free 127.0.0.1 port with its own slapd.conf and
# database in a temporary folder. Needs the Debian packages `slapd` and `ldap-utils`:
#   echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
#   apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils
#
# Directory content (base dc=qaboard,dc=test):
#   cn=qaboard,ou=services   the service account QA-Board binds as (password service-secret)
#   uid=alice,ou=people      cn "Alice Liddell", mail alice@qaboard.test, password alice-secret
#   uid=st*r(x)\,ou=people   an uid made of filter metacharacters (`*`, `(`, `)`, `\`), cn "Star Paren",
#                            mail star@qaboard.test, password star-secret
#   uid=nomail,ou=people     no mail attribute, password nomail-secret
# Only the service account may search; anonymous clients may only bind.
set -euo pipefail

SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
SCHEMA_DIR=${LDAP_SCHEMA_DIR:-/etc/ldap/schema}
MODULE_DIR=${LDAP_MODULE_DIR:-/usr/lib/ldap}
BASE="dc=qaboard,dc=test"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
  start)
    [[ -x "$SLAPD" ]] || { echo "slapd not found ($SLAPD): install the slapd package" >&2; exit 1; }
    DIR=$(mktemp -d /tmp/qaboard-ldap.XXXXXX)
    mkdir "$DIR/db"
    PORT=$(free_port)
    cat >"$DIR/slapd.conf" <<EOF
include $SCHEMA_DIR/core.schema
include $SCHEMA_DIR/cosine.schema
include $SCHEMA_DIR/inetorgperson.schema
modulepath $MODULE_DIR
moduleload back_mdb
pidfile $DIR/slapd.pid
argsfile $DIR/slapd.args
database mdb
maxsize 16777216
suffix "$BASE"
rootdn "cn=admin,$BASE"
rootpw admin-secret
directory $DIR/db
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="cn=qaboard,ou=services,$BASE" read
  by self read
  by * none
EOF
    cat >"$DIR/data.ldif" <<EOF
dn: $BASE
objectClass: dcObject
objectClass: organization
dc: qaboard
o: QA-Board tests

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: cn=qaboard,ou=services,$BASE
objectClass: person
cn: qaboard
sn: service
userPassword: service-secret

dn: uid=alice,ou=people,$BASE
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@qaboard.test
userPassword: alice-secret

dn: uid=st*r(x)\5C,ou=people,$BASE
objectClass: inetOrgPerson
uid: st*r(x)\\
cn: Star Paren
sn: Paren
mail: star@qaboard.test
userPassword: star-secret

dn: uid=nomail,ou=people,$BASE
objectClass: inetOrgPerson
uid: nomail
cn: No Mail
sn: Mail
userPassword: nomail-secret
EOF
    "$SLAPADD" -f "$DIR/slapd.conf" -l "$DIR/data.ldif" >"$DIR/slapadd.log" 2>&1 \
      || { cat "$DIR/slapadd.log" >&2; rm -rf "$DIR"; exit 1; }
    "$SLAPD" -f "$DIR/slapd.conf" -h "ldap://127.0.0.1:$PORT/" -u "$(id -un)" -g "$(id -gn)" \
      >"$DIR/slapd.log" 2>&1 || { cat "$DIR/slapd.log" >&2; rm -rf "$DIR"; exit 1; }
    # slapd forks; wait until it answers.
    for _ in $(seq 100); do
      python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2).close()" 2>/dev/null && break
      sleep 0.1
    done
    echo "export LDAPTEST_DIR=$DIR"
    echo "export QABOARD_TEST_LDAP_URL=ldap://127.0.0.1:$PORT"
    echo "export QABOARD_TEST_LDAP_HOST=127.0.0.1"
    echo "export QABOARD_TEST_LDAP_PORT=$PORT"
    echo "export QABOARD_TEST_LDAP_BIND_DN=cn=qaboard,ou=services,$BASE"
    echo "export QABOARD_TEST_LDAP_PASSWORD=service-secret"
    echo "export QABOARD_TEST_LDAP_USER_BASE=ou=people,$BASE"
    ;;
  stop)
    DIR=${2:?usage: $0 stop DIR}
    if [[ -f "$DIR/slapd.pid" ]]; then
      PID=$(cat "$DIR/slapd.pid")
      kill "$PID" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
