package config

import "testing"

func TestSourceRestoreLogin(t *testing.T) {
	const head = `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - {name: r1, local: {path: /tmp/r1}}
jobs:
  - {name: j1, sources: [s1], repository: r1}
sources:
`
	ps := problemsOf(t, head+`  - name: s1
    path: {path: /tmp/s1}
    restore:
      postgres: {user: restorer}
`)
	if !hasProblem(ps, "sources[0].restore.postgres", "only a postgres source") {
		t.Errorf("a restore login on a path source: %v", ps)
	}
	ps = problemsOf(t, head+`  - name: s1
    postgres: {host: db, database: cases, user: ro, password: env:PW}
    restore:
      postgres: {password: "plain text"}
`)
	if !hasProblem(ps, "sources[0].restore.postgres.user", "CREATEDB") || !hasProblem(ps, "sources[0].restore.postgres.password", "") {
		t.Errorf("a restore login without a user and with an inline password: %v", ps)
	}
	ps = problemsOf(t, head+`  - name: s1
    postgres: {host: db, database: cases, user: ro, password: env:PW}
    restore:
      postgres: {user: restorer, password: env:RPW, database: template1}
`)
	if len(ps) != 0 {
		t.Errorf("a valid restore login: %v", ps)
	}
}
